package gen

import "strings"

// product is one item of the shop's catalog; prices are in US cents and
// converted per currency by priceIn.
type product struct {
	sku, name string
	category  int
	usdCents  int64
	url       string // product page
}

// category is a browsing section of the shop.
type category struct {
	name, url string
}

const site = "https://shop.example.com"

var categories = []category{
	{"Footwear", site + "/c/footwear"},
	{"Apparel", site + "/c/apparel"},
	{"Electronics", site + "/c/electronics"},
	{"Home & Kitchen", site + "/c/home-kitchen"},
	{"Outdoors & Sports", site + "/c/outdoors-sports"},
	{"Beauty", site + "/c/beauty"},
}

// catalog is ordered by category; catByCategory indexes it.
var catalog = withURLs([]product{
	{"FW-1001", "Trail Runner 2 Running Shoe", 0, 12999, ""},
	{"FW-1002", "Court Classic Sneaker", 0, 7999, ""},
	{"FW-1003", "Everyday Leather Boot", 0, 15900, ""},
	{"FW-1004", "Cloudstep Walking Shoe", 0, 9999, ""},
	{"FW-1005", "Summit Hiking Boot", 0, 18900, ""},
	{"FW-1006", "Slide Sandal", 0, 3499, ""},
	{"FW-1007", "Kids' Light-Up Sneaker", 0, 4499, ""},
	{"FW-1008", "Wool Lounge Slipper", 0, 4999, ""},
	{"AP-2001", "Organic Cotton T-Shirt", 1, 2499, ""},
	{"AP-2002", "Merino Crew Sweater", 1, 8900, ""},
	{"AP-2003", "Slim Fit Chino", 1, 5999, ""},
	{"AP-2004", "Packable Rain Jacket", 1, 11900, ""},
	{"AP-2005", "Performance Running Shorts", 1, 3499, ""},
	{"AP-2006", "Fleece Hoodie", 1, 6499, ""},
	{"AP-2007", "Denim Jacket", 1, 9800, ""},
	{"AP-2008", "Yoga Leggings", 1, 6800, ""},
	{"AP-2009", "Linen Button-Down Shirt", 1, 5499, ""},
	{"AP-2010", "Down Puffer Coat", 1, 22900, ""},
	{"EL-3001", "Wireless Noise-Cancelling Headphones", 2, 24999, ""},
	{"EL-3002", "True Wireless Earbuds", 2, 12999, ""},
	{"EL-3003", "Smart Fitness Watch", 2, 19999, ""},
	{"EL-3004", "Portable Bluetooth Speaker", 2, 7999, ""},
	{"EL-3005", "10-inch Tablet", 2, 32900, ""},
	{"EL-3006", "4K Streaming Stick", 2, 4999, ""},
	{"EL-3007", "USB-C Fast Charger", 2, 2999, ""},
	{"EL-3008", "Mechanical Keyboard", 2, 10999, ""},
	{"EL-3009", "Action Camera", 2, 29999, ""},
	{"HK-4001", "Pour-Over Coffee Maker", 3, 3999, ""},
	{"HK-4002", "Cast Iron Skillet", 3, 3499, ""},
	{"HK-4003", "Chef's Knife 8-inch", 3, 8999, ""},
	{"HK-4004", "Linen Duvet Cover Set", 3, 14900, ""},
	{"HK-4005", "Robot Vacuum", 3, 27999, ""},
	{"HK-4006", "Espresso Machine", 3, 44900, ""},
	{"HK-4007", "Scented Soy Candle", 3, 1999, ""},
	{"HK-4008", "Air Fryer 5.8 qt", 3, 11999, ""},
	{"HK-4009", "Ceramic Dinnerware Set", 3, 8900, ""},
	{"OS-5001", "2-Person Backpacking Tent", 4, 19900, ""},
	{"OS-5002", "Insulated Water Bottle", 4, 3200, ""},
	{"OS-5003", "Yoga Mat", 4, 4800, ""},
	{"OS-5004", "Adjustable Dumbbells", 4, 29900, ""},
	{"OS-5005", "Down Sleeping Bag", 4, 17900, ""},
	{"OS-5006", "Trekking Poles", 4, 5999, ""},
	{"OS-5007", "Daypack 25L", 4, 7499, ""},
	{"OS-5008", "Camping Headlamp", 4, 2499, ""},
	{"BE-6001", "Vitamin C Serum", 5, 3800, ""},
	{"BE-6002", "Daily Moisturizer SPF 30", 5, 2900, ""},
	{"BE-6003", "Hydrating Lip Balm Trio", 5, 1299, ""},
	{"BE-6004", "Eau de Parfum 50 ml", 5, 9500, ""},
	{"BE-6005", "Hair Dryer Pro", 5, 14999, ""},
	{"BE-6006", "Bamboo Toothbrush 4-Pack", 5, 999, ""},
})

// catByCategory[c] is the range of catalog holding category c.
var catByCategory = func() [][2]int {
	r := make([][2]int, len(categories))
	for i, p := range catalog {
		if r[p.category][1] == 0 {
			r[p.category][0] = i
		}
		r[p.category][1] = i + 1
	}
	return r
}()

func withURLs(ps []product) []product {
	for i := range ps {
		ps[i].url = site + "/p/" + strings.ToLower(ps[i].sku)
	}
	return ps
}

// searchTerms are what shoppers type into the search box (URL-encoded).
var searchTerms = []string{"running+shoes", "rain+jacket", "headphones", "coffee", "tent", "gift+ideas",
	"sale", "yoga", "boots", "sweater", "earbuds", "skillet"}

// Fixed pages of the shop.
const (
	homeURL     = site + "/"
	cartURL     = site + "/cart"
	checkoutURL = site + "/checkout"
	confirmURL  = site + "/checkout/confirmation"
	searchURL   = site + "/search?q="
)

// priceIn is a product's unit price in cents of a currency worth
// ratePerMille per US dollar, rounded up to the next whole unit less one
// cent, the way shops price (x.99).
func priceIn(usdCents, ratePerMille int64) int64 {
	if ratePerMille == 1000 {
		return usdCents
	}
	local := (usdCents*ratePerMille + 999) / 1000
	return (local+99)/100*100 - 1
}
