package gen

import (
	"strconv"
	"time"
)

// profile is everything drawn for one profile; the JSON is written from
// it, and its events read its country, ECID and loyalty tier.
type profile struct {
	i            int
	country      *country
	city         *city
	gender       int
	first, last  string
	birth        time.Time
	streetNum    int
	streetName   string
	streetSuffix string
	postal       [12]byte
	postalLen    int
	phone        [20]byte
	phoneLen     int
	emailStyle   int
	emailDomain  int
	crm, phoneID bool
	tier         int // index into tiers, -1 for no loyalty membership
	points       int
	joined       time.Time
	emailOptIn   bool
	smsOptIn     bool
}

// Genders are XDM person.gender values.
var (
	genders       = []string{"female", "male", "not_specified", "non_specific"}
	genderWeights = []int32{488, 488, 16, 8}
)

// ageBands are [min, max] ages and their share of adult shoppers.
var (
	ageBands       = [][2]int{{18, 24}, {25, 34}, {35, 44}, {45, 54}, {55, 64}, {65, 74}, {75, 90}}
	ageBandWeights = []int32{12, 20, 19, 17, 15, 11, 6}
)

// Loyalty tiers, their shares of members, point ranges and how much more
// their members buy than non-members do (index 0 of tierPropensity).
var (
	tiers          = []string{"bronze", "silver", "gold", "platinum"}
	tierWeights    = []int32{55, 28, 13, 4}
	tierPoints     = [][2]int{{0, 2499}, {2500, 9999}, {10000, 24999}, {25000, 100000}}
	tierPropensity = []float64{0.85, 1.0, 1.2, 1.45, 1.8}
)

// Email addresses use reserved example domains (RFC 2606): the data looks
// real but can never reach a real mailbox.
var (
	emailDomains       = []string{"example.com", "example.net", "example.org", "mail.example.com", "inbox.example.net"}
	emailDomainWeights = []int32{45, 25, 15, 8, 7}
	emailStyleWeights  = []int32{40, 15, 15, 10, 10, 10}
)

const (
	memberShare       = 0.6
	otherLocaleShare  = 0.1 // names from another culture than the country's
	maxLoyaltyYears   = 8
	emailOptInShare   = 0.62
	smsOptInShare     = 0.28
	phoneIdentity     = 0.3
	crmShareMember    = 0.8 // members are known to the CRM more often
	crmShareNonMember = 0.2
)

// makeProfile draws profile i into w.p from its own random stream.
func (w *worker) makeProfile(i int) {
	k := &w.g.keys
	r := &w.r
	r.seed(mix64(uint64(i)^k.profileA), mix64(uint64(i)^k.profileB))
	p := &w.p
	*p = profile{i: i}

	p.country = &countries[r.pick(countryWeights)]
	p.city = &p.country.cities[r.pick(p.country.weights)]
	p.gender = r.pick(genderWeights)
	locale := p.country.locale
	if p.city.locale >= 0 {
		locale = p.city.locale
	}
	if r.chance(otherLocaleShare) {
		locale = r.intn(len(nameSets))
	}
	names := &nameSets[locale]
	female := p.gender == 0 || p.gender > 1 && r.chance(0.5)
	if female {
		p.first = names.female[r.intn(len(names.female))]
	} else {
		p.first = names.male[r.intn(len(names.male))]
	}
	p.last = names.last[r.intn(len(names.last))]

	band := ageBands[r.pick(ageBandWeights)]
	p.birth = birthDate(w.g.now, r.between(band[0], band[1]), r.intn(365))

	st := p.country.street
	p.streetNum = r.between(1, st.maxNumber)
	p.streetName = st.names[r.intn(len(st.names))]
	if len(st.suffixes) > 0 {
		p.streetSuffix = st.suffixes[r.intn(len(st.suffixes))]
	}
	p.postalLen = len(fillPattern(p.postal[:0], p.city.postal, r))
	p.phoneLen = len(w.phoneNumber(p.phone[:0]))

	p.emailStyle = r.pick(emailStyleWeights)
	p.emailDomain = r.pick(emailDomainWeights)
	p.tier = -1
	if r.chance(memberShare) {
		p.tier = r.pick(tierWeights)
		pts := tierPoints[p.tier]
		p.points = r.between(pts[0], pts[1])
		// Members joined in the last few years, and as adults.
		adultDays := int(w.g.now.Sub(p.birth.AddDate(18, 0, 0)) / (24 * time.Hour))
		p.joined = w.g.now.AddDate(0, 0, -r.between(0, min(maxLoyaltyYears*365, max(adultDays, 0))))
	}
	crmShare := crmShareNonMember
	if p.tier >= 0 {
		crmShare = crmShareMember
	}
	p.crm = r.chance(crmShare)
	p.phoneID = r.chance(phoneIdentity)
	p.emailOptIn = r.chance(emailOptInShare)
	p.smsOptIn = r.chance(smsOptInShare)
}

// birthDate returns a date at which someone is exactly age years old at
// now, daysBack (0–364) days before their latest birthday.
func birthDate(now time.Time, age, daysBack int) time.Time {
	y, m, d := now.Date()
	b := time.Date(y-age, m, d, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -daysBack)
	// 29 February of a non-leap year normalises to 1 March, one day too
	// young: step back.
	for ageAt(b, now) < age {
		b = b.AddDate(0, 0, -1)
	}
	return b
}

// ageAt returns the age in whole years at now of someone born on birth.
func ageAt(birth, now time.Time) int {
	by, bm, bd := birth.Date()
	ny, nm, nd := now.Date()
	age := ny - by
	if nm < bm || nm == bm && nd < bd {
		age--
	}
	return age
}

// fillPattern appends pattern with '#' replaced by random digits and '@'
// by random postcode letters.
func fillPattern(dst []byte, pattern string, r *rng) []byte {
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '#':
			dst = append(dst, byte('0'+r.intn(10)))
		case '@':
			dst = append(dst, postcodeLetters[r.intn(len(postcodeLetters))])
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// phoneNumber appends an E.164 mobile number for the profile's city.
// Numbers are random, not unique: people share family phones.
func (w *worker) phoneNumber(dst []byte) []byte {
	c, r := w.p.country, &w.r
	prefix := w.p.city.area
	if prefix == "" {
		prefix = c.mobile
	}
	dst = append(dst, c.phoneCC...)
	dst = append(dst, prefix...)
	// Subscriber numbers do not start with 0 or 1 (NANP; elsewhere it
	// does no harm).
	dst = append(dst, byte('2'+r.intn(8)))
	for range c.phoneLen - len(prefix) - 1 {
		dst = append(dst, byte('0'+r.intn(10)))
	}
	return dst
}

// appendECID appends the profile's Experience Cloud ID: 38 digits, the
// first 20 a bijection of the profile index, so ECIDs never collide.
func (w *worker) appendECID(dst []byte) []byte {
	i := uint64(w.p.i)
	k := &w.g.keys
	dst = appendPadded(dst, mix64(i^k.ecid), 20)
	return appendPadded(dst, mix64(i^k.ecidTail)%1_000_000_000_000_000_000, 18)
}

// appendEmail appends the profile's email address. The profile number
// after the name part makes it unique: the name part has no digits, so
// different numbers always give different addresses.
func (w *worker) appendEmail(dst []byte) []byte {
	p := &w.p
	switch p.emailStyle {
	case 0: // jane.doe
		dst = appendFolded(dst, p.first)
		dst = append(dst, '.')
		dst = appendFolded(dst, p.last)
	case 1: // janedoe
		dst = appendFolded(dst, p.first)
		dst = appendFolded(dst, p.last)
	case 2: // j.doe
		dst = appendFolded(dst, p.first[:initialLen(p.first)])
		dst = append(dst, '.')
		dst = appendFolded(dst, p.last)
	case 3: // jane_doe
		dst = appendFolded(dst, p.first)
		dst = append(dst, '_')
		dst = appendFolded(dst, p.last)
	case 4: // janed
		dst = appendFolded(dst, p.first)
		dst = appendFolded(dst, p.last[:initialLen(p.last)])
	default: // doe.jane
		dst = appendFolded(dst, p.last)
		dst = append(dst, '.')
		dst = appendFolded(dst, p.first)
	}
	dst = strconv.AppendInt(dst, int64(p.i)+1, 10)
	dst = append(dst, '@')
	return append(dst, emailDomains[p.emailDomain]...)
}

// initialLen is the byte length of the first rune of s, which may be
// multi-byte ("Élodie").
func initialLen(s string) int {
	for i := range s {
		if i > 0 {
			return i
		}
	}
	return len(s)
}

// appendProfile appends w.p as an XDM Individual Profile record and a
// newline.
func (w *worker) appendProfile(dst []byte) []byte {
	p := &w.p
	k := &w.g.keys
	i := uint64(p.i)
	dst = append(dst, `{"_id":"`...)
	dst = appendUUID(dst, mix64(i^k.recordID), mix64(i^k.recordB))
	dst = append(dst, `","identityMap":{"ECID":[{"id":"`...)
	dst = w.appendECID(dst)
	dst = append(dst, `","authenticatedState":"ambiguous","primary":true}],"Email":[{"id":"`...)
	dst = w.appendEmail(dst)
	dst = append(dst, `","authenticatedState":"authenticated","primary":false}]`...)
	if p.crm {
		dst = append(dst, `,"CRMID":[{"id":"CRM`...)
		dst = appendPadded(dst, i+k.crm%1_000_000_000, 10)
		dst = append(dst, `","authenticatedState":"authenticated","primary":false}]`...)
	}
	if p.phoneID {
		dst = append(dst, `,"Phone":[{"id":"`...)
		dst = append(dst, p.phone[:p.phoneLen]...)
		dst = append(dst, `","authenticatedState":"authenticated","primary":false}]`...)
	}
	dst = append(dst, `},"person":{"name":{"firstName":`...)
	dst = appendString(dst, p.first)
	dst = append(dst, `,"lastName":`...)
	dst = appendString(dst, p.last)
	dst = append(dst, `},"birthDate":"`...)
	dst = appendDate(dst, p.birth)
	dst = append(dst, `","birthYear":`...)
	dst = strconv.AppendInt(dst, int64(p.birth.Year()), 10)
	dst = append(dst, `,"gender":"`...)
	dst = append(dst, genders[p.gender]...)
	dst = append(dst, `"},"personalEmail":{"address":"`...)
	dst = w.appendEmail(dst)
	dst = append(dst, `"},"mobilePhone":{"number":"`...)
	dst = append(dst, p.phone[:p.phoneLen]...)
	dst = append(dst, `"},"homeAddress":{"street1":"`...)
	st := p.country.street
	if st.numberFirst {
		dst = strconv.AppendInt(dst, int64(p.streetNum), 10)
		dst = append(dst, ' ')
		dst = appendEscaped(dst, p.streetName)
		if p.streetSuffix != "" {
			dst = append(dst, ' ')
			dst = appendEscaped(dst, p.streetSuffix)
		}
	} else {
		dst = appendEscaped(dst, p.streetName)
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, int64(p.streetNum), 10)
	}
	dst = append(dst, `","city":`...)
	dst = appendString(dst, p.city.name)
	dst = append(dst, `,"stateProvince":"`...)
	dst = append(dst, p.city.state...)
	dst = append(dst, `","postalCode":"`...)
	dst = append(dst, p.postal[:p.postalLen]...)
	dst = append(dst, `","country":`...)
	dst = appendString(dst, p.country.name)
	dst = append(dst, `,"countryCode":"`...)
	dst = append(dst, p.country.code...)
	dst = append(dst, `"}`...)
	if p.tier >= 0 {
		dst = append(dst, `,"loyalty":{"tier":"`...)
		dst = append(dst, tiers[p.tier]...)
		dst = append(dst, `","points":`...)
		dst = strconv.AppendInt(dst, int64(p.points), 10)
		dst = append(dst, `,"joinDate":"`...)
		dst = appendDate(dst, p.joined)
		dst = append(dst, `"}`...)
	}
	dst = append(dst, `,"consents":{"collect":{"val":"y"},"marketing":{"email":{"val":"`...)
	dst = append(dst, yn(p.emailOptIn)...)
	dst = append(dst, `"},"sms":{"val":"`...)
	dst = append(dst, yn(p.smsOptIn)...)
	return append(dst, "\"}}}}\n"...)
}

// yn is an XDM consent value.
func yn(b bool) string {
	if b {
		return "y"
	}
	return "n"
}
