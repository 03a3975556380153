package ups

import (
	"net/http"

	"github.com/segflow/segflow/pkg/pql"
)

// POST /data/core/ups/segment/conversion (D-SD "Convert segment
// definition", D-CONV): the body is a segment definition (SW-SEG), of
// which only the expression is needed; the answer is the expression in the
// other format, pql/text ⇄ pql/json, with imsOrgId, sandbox, and the
// description and ttlInDays when the request has them, as in the
// documented examples. Nothing is stored. A pql/json value is a JSON
// string holding the query, as everywhere in the API.

// conversionView is a conversion answer, fields in the documented order.
type conversionView struct {
	TTLInDays   *int          `json:"ttlInDays,omitempty"`
	ImsOrgID    string        `json:"imsOrgId"`
	Sandbox     sandboxView   `json:"sandbox"`
	Description *string       `json:"description,omitempty"`
	Expression  PQLExpression `json:"expression"`
}

func (h *defHTTP) convert(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	body, ok := readUPSBody(w, r, h.maxBody)
	if !ok {
		return
	}
	out, err := convertDefinition(caller, body)
	if err != nil {
		h.fail(w, r, "", err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// convertDefinition converts a conversion request's expression. Errors are
// *badRequestError.
func convertDefinition(c Caller, body []byte) (conversionView, error) {
	var req definitionRequest
	if err := decodeObject(body, &req); err != nil {
		return conversionView{}, err
	}
	in, err := req.expression()
	if err != nil {
		return conversionView{}, err
	}
	q, err := parseExpression(in)
	if err != nil {
		return conversionView{}, err
	}
	if t := req.TTLInDays; t != nil && (*t < 1 || *t > maxTTLInDays) {
		return conversionView{}, badRequestf("ttlInDays %d is invalid: it must be from 1 to %d", *t, maxTTLInDays)
	}
	out := conversionView{
		TTLInDays:   req.TTLInDays,
		ImsOrgID:    c.Org,
		Sandbox:     sandboxOf(c.Org, c.Sandbox),
		Description: req.Description,
		Expression:  PQLExpression{Type: exprTypePQL},
	}
	switch in.Format {
	case formatPQLText:
		js, err := q.MarshalJSON()
		if err != nil {
			return conversionView{}, badRequestf("expression.value cannot be written as %s: %v", formatPQLJSON, err)
		}
		out.Expression.Format, out.Expression.Value = formatPQLJSON, string(js)
	default: // pql/json
		out.Expression.Format, out.Expression.Value = formatPQLText, pql.Format(q.Root)
	}
	return out, nil
}
