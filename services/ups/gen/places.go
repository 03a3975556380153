package gen

// country is a home country: its share of profiles, how its addresses and
// phone numbers look, and its cities.
type country struct {
	code, name string // ISO 3166-1 alpha-2, English name as in XDM's examples
	weight     int32  // per mille of profiles
	currency   string // ISO 4217, for the prices its shoppers see
	rate       int64  // US dollars to currency, per mille (fixed list prices)
	locale     int    // index into nameSets
	utcOffset  int64  // hours; one zone a country and no DST is enough for time-of-day patterns
	street     *streetStyle
	phoneCC    string // E.164 country code with "+"
	mobile     string // national prefix of mobile numbers, if cities have none
	phoneLen   int    // digits of a national number, prefix included
	cities     []city
	weights    []int32 // the cities' weights, for rng.pick
}

// city is a home city. postal is a pattern: '#' a digit, '@' a letter
// used in postcodes, anything else itself.
type city struct {
	name   string
	state  string // ISO 3166-2, as XDM's stateProvince wants ("US-CA")
	postal string
	weight int32  // roughly the metro population
	area   string // phone area code where numbers are geographic (NANP, MX)
	locale int    // -1: the country's
}

// streetStyle builds street1: "<number> <name> <suffix>" or, where the
// number follows, "<name> <number>".
type streetStyle struct {
	names       []string
	suffixes    []string // appended to the name, if any
	numberFirst bool
	maxNumber   int
}

var (
	streetsEN = &streetStyle{
		names: []string{"Main", "Oak", "Maple", "Cedar", "Elm", "Pine", "Washington", "Lake", "Hill", "Park",
			"Sunset", "Highland", "Jefferson", "Lincoln", "Madison", "Church", "River", "Spring", "Walnut", "Chestnut",
			"Willow", "Meadow", "Forest", "Ridge", "Franklin", "Adams", "Mill", "Center", "2nd", "3rd"},
		suffixes:    []string{"St", "Ave", "Blvd", "Rd", "Dr", "Ln", "Way", "Ct", "Pl"},
		numberFirst: true, maxNumber: 9999,
	}
	streetsGB = &streetStyle{
		names: []string{"High", "Station", "Church", "Victoria", "Green", "Manor", "Park", "Queen's", "King's", "Mill",
			"Albert", "York", "Windsor", "Grange", "Springfield", "Beech", "Chapel", "Orchard", "New", "London"},
		suffixes:    []string{"Street", "Road", "Lane", "Avenue", "Close", "Gardens", "Drive", "Crescent", "Way", "Terrace"},
		numberFirst: true, maxNumber: 250,
	}
	streetsFR = &streetStyle{
		names: []string{"rue de la République", "rue Victor Hugo", "avenue Jean Jaurès", "boulevard Voltaire", "rue de la Paix",
			"rue du Moulin", "rue Pasteur", "place de la Mairie", "avenue de la Gare", "rue des Écoles", "rue Nationale",
			"allée des Tilleuls", "chemin des Vignes", "rue Jules Ferry", "boulevard Gambetta", "rue du Général de Gaulle"},
		numberFirst: true, maxNumber: 150,
	}
	streetsDE = &streetStyle{
		names: []string{"Hauptstraße", "Bahnhofstraße", "Schulstraße", "Gartenstraße", "Dorfstraße", "Bergstraße", "Birkenweg",
			"Lindenstraße", "Kirchstraße", "Waldstraße", "Ringstraße", "Schillerstraße", "Goethestraße", "Mozartstraße",
			"Friedrichstraße", "Am Markt", "Rosenweg", "Mühlenweg", "Parkstraße", "Feldstraße"},
		maxNumber: 180,
	}
	streetsMX = &streetStyle{
		names: []string{"Avenida Insurgentes Sur", "Paseo de la Reforma", "Calle Hidalgo", "Calle Morelos", "Avenida Juárez",
			"Calle Benito Juárez", "Calle 5 de Mayo", "Calle Zaragoza", "Avenida Revolución", "Calle Allende",
			"Avenida Universidad", "Calle Guerrero", "Calle Independencia", "Avenida Chapultepec"},
		maxNumber: 3000,
	}
	streetsES = &streetStyle{
		names: []string{"Calle Mayor", "Calle Real", "Gran Vía", "Calle de Alcalá", "Avenida de la Constitución", "Calle del Sol",
			"Calle San José", "Avenida de América", "Calle de Serrano", "Paseo de Gracia", "Calle Nueva", "Plaza Mayor",
			"Calle Iglesia", "Calle Libertad"},
		maxNumber: 200,
	}
	streetsIT = &streetStyle{
		names: []string{"Via Roma", "Via Garibaldi", "Via Mazzini", "Via Cavour", "Corso Vittorio Emanuele II", "Via Dante",
			"Via Verdi", "Via Marconi", "Piazza della Repubblica", "Via XX Settembre", "Via Manzoni", "Via Leopardi",
			"Corso Italia", "Via Nazionale"},
		maxNumber: 200,
	}
	streetsNL = &streetStyle{
		names: []string{"Kerkstraat", "Schoolstraat", "Molenstraat", "Dorpsstraat", "Stationsweg", "Julianastraat",
			"Beatrixstraat", "Wilhelminastraat", "Nieuwstraat", "Prinsengracht", "Keizersgracht", "Markt", "Parallelweg", "Lindelaan"},
		maxNumber: 300,
	}
)

// countries: mostly US, as for a US-based retailer with international
// shipping. The weights are per mille and sum to 1000.
var countries = withWeights([]country{
	{code: "US", utcOffset: -6, name: "United States", weight: 600, currency: "USD", rate: 1000, locale: locUS, street: streetsEN, phoneCC: "+1", phoneLen: 10, cities: []city{
		{"New York", "US-NY", "100##", 195, "212", -1}, {"Los Angeles", "US-CA", "900##", 130, "213", -1},
		{"Chicago", "US-IL", "606##", 95, "312", -1}, {"Houston", "US-TX", "770##", 71, "713", -1},
		{"Phoenix", "US-AZ", "850##", 49, "602", -1}, {"Philadelphia", "US-PA", "191##", 62, "215", -1},
		{"San Antonio", "US-TX", "782##", 26, "210", -1}, {"San Diego", "US-CA", "921##", 33, "619", -1},
		{"Dallas", "US-TX", "752##", 76, "214", -1}, {"Austin", "US-TX", "787##", 23, "512", -1},
		{"Jacksonville", "US-FL", "322##", 16, "904", -1}, {"San Jose", "US-CA", "951##", 20, "408", -1},
		{"Columbus", "US-OH", "432##", 21, "614", -1}, {"Charlotte", "US-NC", "282##", 27, "704", -1},
		{"Indianapolis", "US-IN", "462##", 21, "317", -1}, {"Seattle", "US-WA", "981##", 40, "206", -1},
		{"Denver", "US-CO", "802##", 30, "303", -1}, {"Washington", "US-DC", "200##", 63, "202", -1},
		{"Boston", "US-MA", "021##", 49, "617", -1}, {"Nashville", "US-TN", "372##", 20, "615", -1},
		{"Detroit", "US-MI", "482##", 43, "313", -1}, {"Portland", "US-OR", "972##", 25, "503", -1},
		{"Las Vegas", "US-NV", "891##", 23, "702", -1}, {"Atlanta", "US-GA", "303##", 61, "404", -1},
		{"Miami", "US-FL", "331##", 62, "305", -1}, {"Minneapolis", "US-MN", "554##", 37, "612", -1},
		{"Kansas City", "US-MO", "641##", 22, "816", -1}, {"St. Louis", "US-MO", "631##", 28, "314", -1},
		{"New Orleans", "US-LA", "701##", 13, "504", -1}, {"Salt Lake City", "US-UT", "841##", 13, "801", -1},
		{"Omaha", "US-NE", "681##", 10, "402", -1}, {"Albuquerque", "US-NM", "871##", 9, "505", -1},
		{"Raleigh", "US-NC", "276##", 14, "919", -1}, {"Pittsburgh", "US-PA", "152##", 24, "412", -1},
		{"Cleveland", "US-OH", "441##", 21, "216", -1}, {"Tampa", "US-FL", "336##", 32, "813", -1},
		{"Orlando", "US-FL", "328##", 27, "407", -1}, {"Sacramento", "US-CA", "958##", 24, "916", -1},
		{"Honolulu", "US-HI", "968##", 10, "808", -1}, {"Anchorage", "US-AK", "995##", 3, "907", -1},
		{"Burlington", "US-VT", "054##", 2, "802", -1}, {"Boise", "US-ID", "837##", 8, "208", -1},
		{"Madison", "US-WI", "537##", 7, "608", -1}, {"Des Moines", "US-IA", "503##", 7, "515", -1},
		{"Birmingham", "US-AL", "352##", 11, "205", -1},
	}},
	{code: "CA", utcOffset: -5, name: "Canada", weight: 80, currency: "CAD", rate: 1370, locale: locUS, street: streetsEN, phoneCC: "+1", phoneLen: 10, cities: []city{
		{"Toronto", "CA-ON", "M#@ #@#", 62, "416", -1}, {"Montréal", "CA-QC", "H#@ #@#", 43, "514", locFR},
		{"Vancouver", "CA-BC", "V#@ #@#", 26, "604", -1}, {"Calgary", "CA-AB", "T#@ #@#", 15, "403", -1},
		{"Edmonton", "CA-AB", "T#@ #@#", 14, "780", -1}, {"Ottawa", "CA-ON", "K#@ #@#", 14, "613", -1},
		{"Winnipeg", "CA-MB", "R#@ #@#", 8, "204", -1}, {"Québec", "CA-QC", "G#@ #@#", 8, "418", locFR},
		{"Halifax", "CA-NS", "B#@ #@#", 4, "902", -1},
	}},
	{code: "GB", utcOffset: 0, name: "United Kingdom", weight: 80, currency: "GBP", rate: 790, locale: locGB, street: streetsGB, phoneCC: "+44", mobile: "7", phoneLen: 10, cities: []city{
		{"London", "GB-LND", "SW# #@@", 90, "", -1}, {"Manchester", "GB-MAN", "M## #@@", 28, "", -1},
		{"Birmingham", "GB-BIR", "B## #@@", 26, "", -1}, {"Leeds", "GB-LDS", "LS# #@@", 18, "", -1},
		{"Glasgow", "GB-GLG", "G## #@@", 17, "", -1}, {"Edinburgh", "GB-EDH", "EH# #@@", 10, "", -1},
		{"Liverpool", "GB-LIV", "L## #@@", 9, "", -1}, {"Bristol", "GB-BST", "BS# #@@", 9, "", -1},
		{"Cardiff", "GB-CRF", "CF## #@@", 7, "", -1}, {"Belfast", "GB-BFS", "BT# #@@", 6, "", -1},
		{"Newcastle upon Tyne", "GB-NET", "NE# #@@", 8, "", -1}, {"Sheffield", "GB-SHF", "S## #@@", 7, "", -1},
	}},
	{code: "DE", utcOffset: 1, name: "Germany", weight: 60, currency: "EUR", rate: 920, locale: locDE, street: streetsDE, phoneCC: "+49", mobile: "15", phoneLen: 11, cities: []city{
		{"Berlin", "DE-BE", "1####", 37, "", -1}, {"Hamburg", "DE-HH", "22###", 19, "", -1},
		{"München", "DE-BY", "80###", 15, "", -1}, {"Köln", "DE-NW", "50###", 11, "", -1},
		{"Frankfurt am Main", "DE-HE", "60###", 8, "", -1}, {"Stuttgart", "DE-BW", "70###", 6, "", -1},
		{"Düsseldorf", "DE-NW", "40###", 6, "", -1}, {"Leipzig", "DE-SN", "04###", 6, "", -1},
		{"Dortmund", "DE-NW", "44###", 6, "", -1}, {"Dresden", "DE-SN", "01###", 6, "", -1},
		{"Bremen", "DE-HB", "28###", 6, "", -1}, {"Hannover", "DE-NI", "30###", 5, "", -1},
		{"Nürnberg", "DE-BY", "90###", 5, "", -1},
	}},
	{code: "FR", utcOffset: 1, name: "France", weight: 60, currency: "EUR", rate: 920, locale: locFR, street: streetsFR, phoneCC: "+33", mobile: "6", phoneLen: 9, cities: []city{
		{"Paris", "FR-IDF", "750##", 110, "", -1}, {"Lyon", "FR-ARA", "6900#", 23, "", -1},
		{"Marseille", "FR-PAC", "130##", 19, "", -1}, {"Toulouse", "FR-OCC", "310##", 14, "", -1},
		{"Nice", "FR-PAC", "060##", 10, "", -1}, {"Nantes", "FR-PDL", "440##", 10, "", -1},
		{"Strasbourg", "FR-GES", "670##", 8, "", -1}, {"Montpellier", "FR-OCC", "340##", 8, "", -1},
		{"Bordeaux", "FR-NAQ", "330##", 12, "", -1}, {"Lille", "FR-HDF", "590##", 12, "", -1},
		{"Rennes", "FR-BRE", "350##", 7, "", -1},
	}},
	{code: "MX", utcOffset: -6, name: "Mexico", weight: 50, currency: "MXN", rate: 17500, locale: locES, street: streetsMX, phoneCC: "+52", phoneLen: 10, cities: []city{
		{"Ciudad de México", "MX-CMX", "0####", 90, "55", -1}, {"Guadalajara", "MX-JAL", "44###", 25, "33", -1},
		{"Monterrey", "MX-NLE", "64###", 25, "81", -1}, {"Puebla", "MX-PUE", "72###", 10, "222", -1},
		{"Tijuana", "MX-BCN", "22###", 10, "664", -1}, {"Cancún", "MX-ROO", "77###", 5, "998", -1},
		{"Mérida", "MX-YUC", "97###", 5, "999", -1}, {"León", "MX-GUA", "37###", 8, "477", -1},
		{"Querétaro", "MX-QUE", "76###", 6, "442", -1},
	}},
	{code: "ES", utcOffset: 1, name: "Spain", weight: 25, currency: "EUR", rate: 920, locale: locES, street: streetsES, phoneCC: "+34", mobile: "6", phoneLen: 9, cities: []city{
		{"Madrid", "ES-MD", "280##", 33, "", -1}, {"Barcelona", "ES-CT", "080##", 16, "", -1},
		{"Valencia", "ES-VC", "460##", 8, "", -1}, {"Sevilla", "ES-AN", "410##", 7, "", -1},
		{"Zaragoza", "ES-AR", "500##", 7, "", -1}, {"Málaga", "ES-AN", "290##", 6, "", -1},
		{"Bilbao", "ES-PV", "480##", 4, "", -1},
	}},
	{code: "IT", utcOffset: 1, name: "Italy", weight: 25, currency: "EUR", rate: 920, locale: locIT, street: streetsIT, phoneCC: "+39", mobile: "3", phoneLen: 10, cities: []city{
		{"Roma", "IT-RM", "001##", 28, "", -1}, {"Milano", "IT-MI", "201##", 14, "", -1},
		{"Napoli", "IT-NA", "801##", 9, "", -1}, {"Torino", "IT-TO", "101##", 9, "", -1},
		{"Palermo", "IT-PA", "901##", 6, "", -1}, {"Genova", "IT-GE", "161##", 6, "", -1},
		{"Bologna", "IT-BO", "401##", 4, "", -1}, {"Firenze", "IT-FI", "501##", 4, "", -1},
	}},
	{code: "NL", utcOffset: 1, name: "Netherlands", weight: 10, currency: "EUR", rate: 920, locale: locNL, street: streetsNL, phoneCC: "+31", mobile: "6", phoneLen: 9, cities: []city{
		{"Amsterdam", "NL-NH", "10## @@", 9, "", -1}, {"Rotterdam", "NL-ZH", "30## @@", 7, "", -1},
		{"Den Haag", "NL-ZH", "25## @@", 5, "", -1}, {"Utrecht", "NL-UT", "35## @@", 4, "", -1},
		{"Eindhoven", "NL-NB", "56## @@", 2, "", -1}, {"Groningen", "NL-GR", "97## @@", 2, "", -1},
	}},
	{code: "AU", utcOffset: 10, name: "Australia", weight: 10, currency: "AUD", rate: 1520, locale: locGB, street: streetsEN, phoneCC: "+61", mobile: "4", phoneLen: 9, cities: []city{
		{"Sydney", "AU-NSW", "2###", 53, "", -1}, {"Melbourne", "AU-VIC", "3###", 50, "", -1},
		{"Brisbane", "AU-QLD", "4###", 26, "", -1}, {"Perth", "AU-WA", "6###", 21, "", -1},
		{"Adelaide", "AU-SA", "5###", 14, "", -1}, {"Canberra", "AU-ACT", "26##", 4, "", -1},
	}},
})

// countryWeights are the countries' weights, for rng.pick.
var countryWeights = func() []int32 {
	w := make([]int32, len(countries))
	for i, c := range countries {
		w[i] = c.weight
	}
	return w
}()

// withWeights fills each country's city weights once, at start-up.
func withWeights(cs []country) []country {
	for i := range cs {
		for _, c := range cs[i].cities {
			cs[i].weights = append(cs[i].weights, c.weight)
		}
	}
	return cs
}

// postcodeLetters are the letters postcode patterns draw: Canada's
// (no D, F, I, O, Q, U), which also look right in British and Dutch codes.
const postcodeLetters = "ABCEGHJKLMNPRSTVWXYZ"
