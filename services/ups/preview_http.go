package ups

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/rs/zerolog"

	"github.com/segflow/segflow/pkg/pql"
)

// previewHTTP serves /data/core/ups/preview and /estimate (SW-SEG): POST
// answers 201 and X-Location, GET and DELETE 200; errors are in the UPS
// shape, and another org's or sandbox's preview is a 404.
type previewHTTP struct {
	runs     *previews
	policies *policyStore
	maxBody  int64
	log      zerolog.Logger
}

// previewRoutes registers the preview and estimate endpoints.
func (s *Server) previewRoutes(api func(string, http.HandlerFunc)) {
	(&previewHTTP{runs: s.previews, policies: s.policies, maxBody: s.cfg.MaxBodyBytes, log: s.log}).register(api)
}

func (h *previewHTTP) register(api func(string, http.HandlerFunc)) {
	api("POST "+previewBase, h.create)
	api("GET "+previewBase+"/{previewId}", h.page)
	api("DELETE "+previewBase+"/{previewId}", h.remove)
	// The form of the estimate's _links.preview (D-PE, SW-SEG).
	api("GET "+previewBase+"/{app}/execution/{execution}", h.pageByExecution)
	api("GET "+estimateBase+"/{previewId}", h.estimate)
}

// previewRequest is CreatePreviewRequest, plus mergePolicyId (which the
// Platform's preview takes from the sandbox's default policy otherwise).
type previewRequest struct {
	PredicateExpression *string `json:"predicateExpression"`
	PredicateType       string  `json:"predicateType"`
	PredicateModel      string  `json:"predicateModel"`
	GraphType           string  `json:"graphType"`
	MergePolicyID       string  `json:"mergePolicyId"`
}

// previewQueryView is PreviewQueryResponse.
type previewQueryView struct {
	State              string `json:"state"`
	PreviewQueryID     string `json:"previewQueryId"`
	PreviewQueryStatus string `json:"previewQueryStatus"`
	PreviewID          string `json:"previewId"`
	PreviewExecutionID int    `json:"previewExecutionId"`
}

// POST /preview
func (h *previewHTTP) create(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	body, ok := readUPSBody(w, r, h.maxBody)
	if !ok {
		return
	}
	var req previewRequest
	if err := decodeObject(body, &req); err != nil {
		h.fail(w, r, "", err)
		return
	}
	q, err := parsePredicate(req)
	if err != nil {
		h.fail(w, r, "", err)
		return
	}
	rule, err := h.rule(caller, req)
	if err != nil {
		h.fail(w, r, "", err)
		return
	}
	run, err := h.runs.start(caller, q, rule)
	if err != nil {
		h.fail(w, r, "", err)
		return
	}
	id := run.key.String()
	w.Header().Set("X-Location", previewBase+"/"+id)
	// The run was created NEW; it may have started by now, which GET
	// /estimate tells.
	writeJSON(w, http.StatusCreated, previewQueryView{
		State:              previewNew,
		PreviewQueryID:     run.key.QueryID,
		PreviewQueryStatus: previewNew,
		PreviewID:          id,
		PreviewExecutionID: run.key.Execution,
	})
}

// parsePredicate validates a preview request's predicate and parses it.
func parsePredicate(req previewRequest) (*pql.Query, error) {
	switch m := strings.TrimSpace(req.PredicateModel); m {
	case "", profileClass, "xdm.model.profile", schemaProfile, schemaProfileUnion, "_xdm.context.profile__union":
	default:
		return nil, badRequestf("predicateModel %q is not supported: ups evaluates predicates on the XDM Individual Profile class, %s", truncate(m, 100), profileClass)
	}
	if req.PredicateExpression == nil || strings.TrimSpace(*req.PredicateExpression) == "" {
		return nil, badRequestf("predicateExpression is required: a PQL query, such as homeAddress.countryCode = \"US\"")
	}
	format := req.PredicateType
	switch format {
	case "", "PQL", "pql":
		format = formatPQLText
	case formatPQLText, formatPQLJSON:
	default:
		return nil, badRequestf("predicateType %q is invalid: use %s (or %s)", truncate(format, 50), formatPQLText, formatPQLJSON)
	}
	q, err := parsePQL(format, *req.PredicateExpression)
	if err != nil {
		return nil, badRequestf("predicateExpression is not valid %s: %v", format, err)
	}
	return q, nil
}

// rule is the merge rule of a preview: the named merge policy's, or the
// sandbox's default one's; graphType, when given, picks the identity
// graph. A sandbox without a default policy merges by timestamp.
func (h *previewHTTP) rule(c Caller, req previewRequest) (mergeRule, error) {
	switch req.GraphType {
	case "", graphNone, graphPDG:
	default:
		return mergeRule{}, badRequestf("graphType %q is invalid: use %s or %s", truncate(req.GraphType, 50), graphNone, graphPDG)
	}
	pol, err := h.policies.resolve(c, req.MergePolicyID)
	var rule mergeRule
	switch {
	case err == nil:
		rule = pol.rule()
	case errors.Is(err, errNoDefaultMergePolicy):
		rule = builtinPolicy(c, 0).rule()
	case errors.Is(err, errMergePolicyNotFound):
		return mergeRule{}, badRequestf("mergePolicyId %q is not a merge policy of this sandbox", truncate(req.MergePolicyID, 100))
	default:
		return mergeRule{}, err
	}
	if req.GraphType != "" {
		rule.Graph = req.GraphType
	}
	return rule, nil
}

// estimateView is EstimateResponse (SW-SEG), plus the interval's bounds:
// the Platform names only its level, "95%".
type estimateView struct {
	EstimatedSize                  int64                   `json:"estimatedSize"`
	NumRowsToRead                  int64                   `json:"numRowsToRead"`
	EstimatedNamespaceDistribution []namespaceEstimateView `json:"estimatedNamespaceDistribution"`
	State                          string                  `json:"state"`
	ProfilesReadSoFar              int64                   `json:"profilesReadSoFar"`
	StandardError                  int64                   `json:"standardError"`
	Error                          estimateErrorView       `json:"error"`
	ProfilesMatchedSoFar           int64                   `json:"profilesMatchedSoFar"`
	TotalRows                      int64                   `json:"totalRows"`
	ConfidenceInterval             string                  `json:"confidenceInterval"`
	// The 95% confidence interval of estimatedSize, inclusive; only when
	// RESULT_READY (while running, the profiles read so far are not a
	// uniform sample, so no interval is honest).
	ConfidenceIntervalLow  *int64           `json:"confidenceIntervalLow,omitempty"`
	ConfidenceIntervalHigh *int64           `json:"confidenceIntervalHigh,omitempty"`
	Links                  *previewLinkView `json:"_links,omitempty"`
}

type namespaceEstimateView struct {
	NamespaceID          string `json:"namespaceId"`
	ProfilesMatchedSoFar int64  `json:"profilesMatchedSoFar"`
}

type estimateErrorView struct {
	Description string `json:"description"`
	Traceback   string `json:"traceback"`
}

type previewLinkView struct {
	Preview string `json:"preview"`
}

// GET /estimate/{previewId}. While the run scans, estimatedSize is
// extrapolated from the profiles read so far (a rough figure: they are
// the first of each range, not a uniform sample); standardError and the
// interval come with the result.
func (h *previewHTTP) estimate(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	id := r.PathValue("previewId")
	run, err := h.runs.get(caller, id)
	if err != nil {
		h.fail(w, r, id, err)
		return
	}
	st := run.status()
	v := estimateView{
		EstimatedSize:                  scaleCount(st.total, st.read, st.matched),
		NumRowsToRead:                  st.expected,
		EstimatedNamespaceDistribution: []namespaceEstimateView{},
		State:                          st.state,
		ProfilesReadSoFar:              st.read,
		Error:                          estimateErrorView{Description: st.failure},
		ProfilesMatchedSoFar:           st.matched,
		TotalRows:                      st.total,
		ConfidenceInterval:             confidenceLevel,
	}
	if res := st.result; res != nil {
		est := res.estimate
		v.EstimatedSize = est.Size
		v.StandardError = int64(est.StdErr + 0.5)
		v.ConfidenceIntervalLow, v.ConfidenceIntervalHigh = &est.Low, &est.High
		for _, ns := range res.namespaces {
			v.EstimatedNamespaceDistribution = append(v.EstimatedNamespaceDistribution, namespaceEstimateView{ns.namespace, scaleCount(res.total, res.read, ns.count)})
		}
		v.Links = &previewLinkView{Preview: fmt.Sprintf("%s/%s/execution/%d?previewQueryId=%s", previewBase, run.key.App, run.key.Execution, run.key.QueryID)}
	}
	writeJSON(w, http.StatusOK, v)
}

// previewPageView is the preview's page (D-PE's example): results keyed
// by profile id.
type previewPageView struct {
	Results []map[string]previewProfileView `json:"results"`
	State   string                          `json:"state"`
	Links   previewPageLinks                `json:"links"`
	Page    previewPageInfo                 `json:"page"`
}

type previewProfileView struct {
	Href           string                     `json:"_href"`
	EndCustomerIDs map[string]previewHrefView `json:"endCustomerIds"`
}

type previewHrefView struct {
	Href string `json:"_href"`
}

type previewPageLinks struct {
	Self string `json:"_self"`
	Next string `json:"next"`
	Prev string `json:"prev"`
}

type previewPageInfo struct {
	Offset int `json:"offset"`
	Size   int `json:"size"`
}

// Page sizes of GET /preview/{previewId}.
const (
	previewPageDefault = 1000
	previewPageMax     = 10_000
)

// GET /preview/{previewId}?offset=&limit=
func (h *previewHTTP) page(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	id := r.PathValue("previewId")
	run, err := h.runs.get(caller, id)
	if err != nil {
		h.fail(w, r, id, err)
		return
	}
	h.writePage(w, r, run, previewBase+"/"+id)
}

// GET /preview/{app}/execution/{execution}?previewQueryId=: the link an
// estimate gives.
func (h *previewHTTP) pageByExecution(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	exec, err := strconv.Atoi(r.PathValue("execution"))
	qid := r.URL.Query().Get("previewQueryId")
	k := previewKey{App: r.PathValue("app"), QueryID: qid, Execution: exec}
	if err != nil || exec < 0 || qid == "" {
		h.fail(w, r, k.App+"/execution/"+r.PathValue("execution"), errPreviewNotFound)
		return
	}
	run, err := h.runs.lookup(caller, k)
	if err != nil {
		h.fail(w, r, k.String(), err)
		return
	}
	h.writePage(w, r, run, fmt.Sprintf("%s/%s/execution/%d?previewQueryId=%s", previewBase, k.App, k.Execution, url.QueryEscape(qid)))
}

// writePage answers a page of the run's qualifying profiles; self is the
// page's URL without offset and limit. While the run is not ready the
// page is empty.
func (h *previewHTTP) writePage(w http.ResponseWriter, r *http.Request, run *previewRun, self string) {
	q := r.URL.Query()
	offset, limit := 0, previewPageDefault
	if s := q.Get("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			h.fail(w, r, "", badRequestf("offset %q is invalid: it must be a whole number, 0 or more", truncate(s, 50)))
			return
		}
		offset = n
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > previewPageMax {
			h.fail(w, r, "", badRequestf("limit %q is invalid: it must be from 1 to %d", truncate(s, 50), previewPageMax))
			return
		}
		limit = n
	}
	st := run.status()
	pageURL := func(off int) string {
		sep := "?"
		if strings.Contains(self, "?") {
			sep = "&"
		}
		return fmt.Sprintf("%s%soffset=%d&limit=%d", self, sep, off, limit)
	}
	v := previewPageView{
		Results: []map[string]previewProfileView{},
		State:   st.state,
		Links:   previewPageLinks{Self: pageURL(offset)},
		Page:    previewPageInfo{Offset: offset},
	}
	if res := st.result; res != nil {
		kept := len(res.starts)
		for i := offset; i < kept && i < offset+limit; i++ {
			keys := res.profileAt(i)
			p := previewProfileView{Href: previewProfileHref(keys[0]), EndCustomerIDs: map[string]previewHrefView{}}
			for _, k := range keys[1:] {
				p.EndCustomerIDs[previewIdentity(k)] = previewHrefView{previewProfileHref(k)}
			}
			v.Results = append(v.Results, map[string]previewProfileView{previewIdentity(keys[0]): p})
		}
		v.Page.Size = len(v.Results)
		if offset+limit < kept {
			v.Links.Next = pageURL(offset + limit)
		}
		if offset > 0 {
			v.Links.Prev = pageURL(max(0, offset-limit))
		}
	}
	writeJSON(w, http.StatusOK, v)
}

// previewIdentity shows an identity as profiles' ids are shown:
// "namespace:id".
func previewIdentity(k identityKey) string {
	ns, id, _ := cutIdentity(k)
	return ns + ":" + id
}

// previewProfileHref is where the Platform's Profile access API serves the
// profile of an identity.
func previewProfileHref(k identityKey) string {
	ns, id, _ := cutIdentity(k)
	return "/data/core/ups/access/entities?entityId=" + url.QueryEscape(id) + "&entityIdNS=" + url.QueryEscape(ns)
}

// DELETE /preview/{previewId}: cancels the run and forgets it.
func (h *previewHTTP) remove(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	id := r.PathValue("previewId")
	if err := h.runs.remove(caller, id); err != nil {
		h.fail(w, r, id, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": true, "message": fmt.Sprintf("The preview %s was deleted.", truncate(id, 200))})
}

// previewCodeTooMany is the UPS code of a 429 (none is documented for
// previews; the family's 4xx codes are 1134xx).
const previewCodeTooMany = "113429"

// fail answers err in the UPS shape; id is the preview the request names.
func (h *previewHTTP) fail(w http.ResponseWriter, r *http.Request, id string, err error) {
	switch {
	case errors.Is(err, errPreviewNotFound):
		upsError(w, r, http.StatusNotFound, upsCodeNotFound, fmt.Sprintf("The preview %s is not found. Use a valid preview id and try again.", truncate(id, 200)))
	case errors.Is(err, errTooManyPreviews):
		w.Header().Set("Retry-After", "10")
		upsError(w, r, http.StatusTooManyRequests, previewCodeTooMany, fmt.Sprintf("There are too many previews running in this sandbox (at most %d are kept, and running ones hold their place). Try again at a later time, or delete previews you no longer need (DELETE /data/core/ups/preview/{previewId}).", h.runs.perScope))
	case errors.Is(err, errPreviewsClosed):
		w.Header().Set("Retry-After", "10")
		upsError(w, r, http.StatusServiceUnavailable, upsCodeInternal, "ups is shutting down: try again once it is back.")
	default:
		upsFail(w, r, h.log, "preview", truncate(id, 200), err)
	}
}
