package pql

// walkChildren calls fn for each direct child of n, in source order.
func walkChildren(n Node, fn func(Node)) {
	switch n := n.(type) {
	case *ArrayLit:
		for _, e := range n.Elems {
			fn(e)
		}
	case *ObjectLit:
		for _, v := range n.Values {
			fn(v)
		}
	case *Field:
		fn(n.X)
	case *Call:
		for _, a := range n.Args {
			fn(a)
		}
	case *Method:
		fn(n.X)
		for _, a := range n.Args {
			fn(a)
		}
	case *Filter:
		fn(n.X)
		fn(n.Cond)
	case *Unary:
		fn(n.X)
	case *Binary:
		fn(n.X)
		fn(n.Y)
	case *Lambda:
		fn(n.Body)
	case *Let:
		fn(n.Value)
		fn(n.Body)
	case *Quantifier:
		for _, b := range n.Bindings {
			fn(b.Source)
			if b.Cond != nil {
				fn(b.Cond)
			}
		}
	case *Select:
		fn(n.Source)
		if n.Cond != nil {
			fn(n.Cond)
		}
	case *Aggregate:
		fn(n.Expr)
		fn(n.Source)
		if n.Cond != nil {
			fn(n.Cond)
		}
	case *Occurs:
		fn(n.X)
		walkSpec(&n.Spec, fn)
	case *Chain:
		fn(n.Source)
		for _, s := range n.Steps {
			fn(s.What)
			if s.Where != nil {
				fn(s.Where)
			}
			if s.When != nil {
				walkSpec(s.When, fn)
			}
		}
	}
}

func walkSpec(s *OccursSpec, fn func(Node)) {
	if s.T.X != nil {
		fn(s.T.X)
	}
	if s.T2.X != nil {
		fn(s.T2.X)
	}
}

// Walk calls fn for n and every node below it, parents first. It stops
// descending below a node for which fn returns false.
func Walk(n Node, fn func(Node) bool) {
	if n == nil || !fn(n) {
		return
	}
	walkChildren(n, func(c Node) { Walk(c, fn) })
}
