package definer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/pkg/pql"
	"github.com/segflow/segflow/services/stage"
)

// The steps of the definer's intent record.
const (
	// StepEstimate: the preview (and its estimate) was started; its id is
	// recorded.
	StepEstimate = "estimate"
	// StepCreateDefinition: the definition is being created (no id yet:
	// the answer may have been lost) or was created (its id is recorded).
	StepCreateDefinition = "create-definition"
)

// Handler is the definer: a stage.Handler of segment requests.
type Handler struct {
	client *platform.Client
	cfg    Config
}

var _ stage.Handler[events.Request] = (*Handler)(nil)

// New returns the definer over client. cfg must be valid
// (Config.Validate), as the command checks it.
func New(client *platform.Client, cfg Config) *Handler {
	return &Handler{client: client, cfg: cfg}
}

// Decode reads a segment request: bare JSON or a CloudEvents envelope
// (events.ParseRequest). A request without a requestId (or with one that
// is not valid) gets one derived from the message's stream and sequence,
// so that every delivery of the message agrees on it and a rejection can
// be published under it. Errors are *events.ValidationError naming the
// field; the stage rejects the request with them.
func (h *Handler) Decode(body []byte, meta stage.Meta) (events.Request, error) {
	req, err := events.ParseRequestIn(body, h.client.Sandbox())
	if req.RequestID == "" || events.ValidateRequestID(req.RequestID) != nil {
		req.RequestID = events.DeriveRequestID(fmt.Sprintf("%s/%d", meta.Stream, meta.Sequence))
	}
	return req, err
}

// Handle checks the PQL, estimates the segment when asked, creates (or
// finds) the definition and returns definition.created.
func (h *Handler) Handle(ctx context.Context, req events.Request, m *stage.Msg) (events.Payload, error) {
	start := time.Now()
	if s := m.Intent.Started; !s.IsZero() && s.Before(start) {
		start = s // a redelivery resumes the same work
	}
	q, err := parseExpression(req.Definition.Expression)
	if err != nil {
		return nil, err
	}
	var est *events.Estimate
	if req.EstimateEnabled() {
		if est, err = h.estimate(ctx, req, q, m); err != nil {
			return nil, err
		}
		if err := checkBounds(req.Estimate, est); err != nil {
			return nil, err
		}
	}

	def, err := h.define(ctx, req, q, m)
	if err != nil {
		return nil, err
	}
	seg := events.Segment{ID: def.ID, Name: def.Name, Expression: req.Definition.Expression}
	if def.Expression.Value != "" {
		seg.Expression = events.Expression{Type: def.Expression.Type, Format: def.Expression.Format, Value: def.Expression.Value}
	}
	if seg.Name == "" {
		seg.Name = req.Definition.Name
	}
	out := events.NewDefinitionCreated(req, seg)
	if out.MergePolicyID == "" {
		out.MergePolicyID = def.MergePolicyID // the Platform's default, resolved
	}
	out.Estimate = est
	out.Timings.Begin(events.StageDefiner, start)
	out.Timings.End(events.StageDefiner, time.Now())
	return out, nil
}

// parseExpression parses the request's PQL; an error is a rejection that
// names definition.expression.value and, for pql/text, the position.
func parseExpression(e events.Expression) (*pql.Query, error) {
	q, err := parsePQL(e)
	if err == nil {
		return q, nil
	}
	p := events.Problem{Field: "definition.expression.value", Reason: fmt.Sprintf("invalid %s: %v", e.Format, err)}
	var se *pql.SyntaxError
	if errors.As(err, &se) && se.Pos.Line > 0 {
		p.Position = &events.Position{Offset: se.Pos.Offset, Line: se.Pos.Line, Column: se.Pos.Col}
	}
	return nil, stage.Reject(p)
}

func parsePQL(e events.Expression) (*pql.Query, error) {
	if e.Format == events.FormatPQLJSON {
		return pql.ParseJSON([]byte(e.Value))
	}
	return pql.Parse(e.Value)
}

// sameQuery reports whether the definition's expression is the query q.
func sameQuery(e platform.Expression, req events.Expression, q *pql.Query) bool {
	if e.Format == req.Format && e.Value == req.Value {
		return true
	}
	other, err := parsePQL(events.Expression{Format: e.Format, Value: e.Value})
	return err == nil && other.String() == q.String()
}

// estimate gets the segment's size estimate: from the preview a previous
// delivery started, or from a new one.
func (h *Handler) estimate(ctx context.Context, req events.Request, q *pql.Query, m *stage.Msg) (*events.Estimate, error) {
	began := time.Now()
	id := m.Intent.PreviewID
	fromIntent := id != ""
	for {
		if id == "" {
			pr := platform.PreviewRequest{
				PredicateExpression: req.Definition.Expression.Value,
				PredicateType:       platform.FormatPQLText,
				PredicateModel:      req.Definition.Schema.Name,
			}
			if req.Definition.Expression.Format == events.FormatPQLJSON {
				pr.PredicateExpression = q.String() // previews take pql/text only
			}
			if h.cfg.EstimateMergePolicy {
				pr.MergePolicyID = req.Definition.MergePolicyID
			}
			p, err := h.client.CreatePreview(ctx, pr)
			if err != nil {
				if errors.Is(err, platform.ErrBadRequest) {
					return nil, rejectPlatform("the Platform refused to preview the segment", err)
				}
				return nil, stage.Classify(ctx, "starting the segment's estimate", err)
			}
			id = p.PreviewID
			ids := m.Intent.PlatformIDs
			ids.PreviewID = id
			step := StepEstimate
			if m.Intent.Step == StepCreateDefinition {
				step = m.Intent.Step // keep the later step's meaning
			}
			if err := m.SaveIntent(ctx, step, ids); err != nil {
				return nil, err
			}
		}
		e, err := h.client.WaitEstimate(ctx, id, platform.WaitOptions{
			Poll:    platform.Backoff{Initial: h.cfg.EstimatePoll, Max: h.cfg.EstimatePollMax, Multiplier: 1.5},
			Timeout: h.cfg.EstimateTimeout,
			OnPoll:  func(string, error) { m.Polled(1) },
		})
		var jf *platform.JobFailedError
		switch {
		case err == nil:
			m.Log().Info().Str("preview_id", id).Int64("estimated_size", e.EstimatedSize).Msg("segment estimated")
			return &events.Estimate{
				EstimatedSize:      e.EstimatedSize,
				StandardError:      e.StandardError,
				ConfidenceInterval: e.ConfidenceInterval,
				ProfilesRead:       e.ProfilesReadSoFar,
				ProfilesMatched:    e.ProfilesMatchedSoFar,
				TotalRows:          e.TotalRows,
				PreviewID:          id,
				DurationMs:         time.Since(began).Milliseconds(), // of this delivery's wait
			}, nil
		case ctx.Err() != nil:
			return nil, fmt.Errorf("waiting for the estimate of preview %s: %w", id, err)
		case fromIntent && errors.Is(err, platform.ErrNotFound):
			// The Platform expired the preview an earlier delivery
			// started: start another.
			m.Log().Info().Str("preview_id", id).Msg("the earlier preview is gone; estimating again")
			id, fromIntent = "", false
			continue
		case errors.Is(err, context.DeadlineExceeded):
			return nil, stage.Fail("the estimate (preview %s) was not ready within SEGFLOW_ESTIMATE_TIMEOUT (%v): %v", id, h.cfg.EstimateTimeout, err)
		case errors.As(err, &jf):
			return nil, stage.JobFailed("estimating the segment", err, jf, "WaitEstimate")
		default:
			return nil, stage.Classify(ctx, "estimating the segment (preview "+id+")", err)
		}
	}
}

// checkBounds rejects an estimate outside the request's bounds.
func checkBounds(b *events.EstimateRequest, e *events.Estimate) error {
	detail := fmt.Sprintf("preview %s, standard error %g", e.PreviewID, e.StandardError)
	if e.ConfidenceInterval != "" {
		detail += ", confidence " + e.ConfidenceInterval
	}
	switch {
	case b.MinSize != nil && e.EstimatedSize < *b.MinSize:
		return stage.Reject(events.Problem{Field: "estimate.minSize",
			Reason: fmt.Sprintf("the estimated size %d is below estimate.minSize %d (%s)", e.EstimatedSize, *b.MinSize, detail)})
	case b.MaxSize != nil && e.EstimatedSize > *b.MaxSize:
		return stage.Reject(events.Problem{Field: "estimate.maxSize",
			Reason: fmt.Sprintf("the estimated size %d is above estimate.maxSize %d (%s)", e.EstimatedSize, *b.MaxSize, detail)})
	}
	return nil
}

// define returns the request's definition: the one an earlier delivery
// recorded, one of the same name and query, or a new one.
func (h *Handler) define(ctx context.Context, req events.Request, q *pql.Query, m *stage.Msg) (platform.SegmentDefinition, error) {
	if id := m.Intent.DefinitionID; id != "" {
		d, err := h.client.SegmentDefinition(ctx, id)
		if err != nil {
			return d, stage.Classify(ctx, "reading the segment definition "+id+" an earlier attempt created", err)
		}
		if !sameQuery(d.Expression, req.Definition.Expression, q) {
			// The request id was used before for another request.
			return d, stage.Reject(events.Problem{Field: "requestId", Reason: fmt.Sprintf(
				"request id %s was used before for segment definition %s (%q) with another expression; a request id names one request",
				req.RequestID, d.ID, d.Name)})
		}
		return d, nil
	}
	if m.Intent.Step == StepCreateDefinition {
		// An earlier attempt may have created it and lost the answer.
		d, ok, err := h.existing(ctx, req, q)
		if err != nil || ok {
			return d, h.recordDefinition(ctx, m, d, err, true)
		}
	} else if err := m.SaveIntent(ctx, StepCreateDefinition, m.Intent.PlatformIDs); err != nil {
		return platform.SegmentDefinition{}, err
	}

	def := req.Definition
	d, err := h.client.CreateSegmentDefinition(ctx, platform.SegmentDefinition{
		Name:          def.Name,
		Description:   def.Description,
		Schema:        platform.SchemaName{Name: def.Schema.Name},
		Expression:    platform.Expression{Type: def.Expression.Type, Format: def.Expression.Format, Value: def.Expression.Value},
		MergePolicyID: def.MergePolicyID,
	})
	var pe *platform.Error
	switch {
	case err == nil:
		return d, h.recordDefinition(ctx, m, d, nil, false)
	case errors.As(err, &pe) && pe.Status == http.StatusUnprocessableEntity:
		// The name is taken: by an earlier attempt, an identical
		// request, or another definition.
		d, ok, lerr := h.existing(ctx, req, q)
		if lerr != nil || ok {
			return d, h.recordDefinition(ctx, m, d, lerr, true)
		}
		return d, rejectPlatform("the Platform refused the segment definition", err)
	case errors.Is(err, platform.ErrBadRequest), mergePolicyNotFound(err):
		return d, rejectPlatform("the Platform refused the segment definition", err)
	}
	return d, stage.Classify(ctx, "creating the segment definition", err)
}

// recordDefinition records the definition's id in the intent, after the
// lookup or create that found it (err is that call's).
func (h *Handler) recordDefinition(ctx context.Context, m *stage.Msg, d platform.SegmentDefinition, err error, reused bool) error {
	if err != nil {
		return err
	}
	ids := m.Intent.PlatformIDs
	ids.DefinitionID = d.ID
	if err := m.SaveIntent(ctx, StepCreateDefinition, ids); err != nil {
		return err
	}
	m.Log().Info().Str("definition_id", d.ID).Bool("reused", reused).Msg("segment definition ready")
	return nil
}

// existing looks the request's definition name up. A definition of that
// name with the same query (and the requested merge policy, if any) is
// returned with true; one that differs is a rejection.
func (h *Handler) existing(ctx context.Context, req events.Request, q *pql.Query) (platform.SegmentDefinition, bool, error) {
	name := req.Definition.Name
	found, err := h.client.FindSegmentDefinitions(ctx, name)
	if err != nil {
		return platform.SegmentDefinition{}, false, stage.Classify(ctx, "looking up segment definitions named "+name, err)
	}
	// Names are unique in a sandbox: there is one at most.
	if len(found) > 0 {
		d := found[0]
		if !sameQuery(d.Expression, req.Definition.Expression, q) {
			return d, false, stage.Reject(events.Problem{Field: "definition.name", Reason: fmt.Sprintf(
				"a segment definition named %q already exists in sandbox %s (%s) with another expression; names are unique in a sandbox: choose another name, or send the same expression to reuse it",
				name, req.Sandbox, d.ID)})
		}
		if mp := req.Definition.MergePolicyID; mp != "" && mp != d.MergePolicyID {
			return d, false, stage.Reject(events.Problem{Field: "definition.mergePolicyId", Reason: fmt.Sprintf(
				"a segment definition named %q already exists in sandbox %s (%s) with merge policy %q, not %q; choose another name",
				name, req.Sandbox, d.ID, d.MergePolicyID, mp)})
		}
		return d, true, nil
	}
	return platform.SegmentDefinition{}, false, nil
}

// mergePolicyNotFound reports a 404 about the merge policy (the Platform
// answers an unknown merge policy with 400 or 404).
func mergePolicyNotFound(err error) bool {
	var pe *platform.Error
	return errors.As(err, &pe) && pe.Status == http.StatusNotFound && strings.Contains(strings.ToLower(pe.Message), "merge")
}

// rejectPlatform is a rejection carrying the Platform's refusal (a 4xx),
// naming the request field the Platform's message is about.
func rejectPlatform(what string, err error) error {
	perr := stage.FromPlatform(what, err)
	var pe *stage.ProblemError
	if !errors.As(perr, &pe) {
		return perr
	}
	pe.Rejected = true
	msg := err.Error()
	var e *platform.Error
	if errors.As(err, &e) {
		msg = e.Message
	}
	pe.Field = fieldOf(msg)
	return pe
}

// fieldOf guesses the request field a Platform error message is about.
func fieldOf(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "mergepolicy") || strings.Contains(m, "merge policy"):
		return "definition.mergePolicyId"
	case strings.Contains(m, "expression") || strings.Contains(m, "pql") || strings.Contains(m, "predicate") || strings.Contains(m, "insegment"):
		return "definition.expression.value"
	case strings.Contains(m, "schema") || strings.Contains(m, "predicatemodel"):
		return "definition.schema.name"
	case strings.Contains(m, "name"):
		return "definition.name"
	}
	return ""
}
