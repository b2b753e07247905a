package history

import (
	"fmt"
	"time"

	"github.com/kervi/kervi-go/ipc"
)

// Option configures a Memory (NewMemory).
type Option func(*options) error

type options struct {
	maxPoints int
	maxAge    time.Duration
	maxIDs    int
	maxTotal  int
	limits    []limit
	now       func() time.Time
}

// limit is the bound of the ids that match pattern; 0 fields take the
// global bound.
type limit struct {
	pattern   ipc.Pattern
	maxPoints int
	maxAge    time.Duration
}

// The defaults of NewMemory.
const (
	// DefaultMaxPoints is the default count bound of an id: at one event a
	// second, close to three hours.
	DefaultMaxPoints = 10_000
	// DefaultMaxAge is the default age bound of an id's points.
	DefaultMaxAge = 24 * time.Hour
	// DefaultMaxIDs is the default bound on the number of ids.
	DefaultMaxIDs = 10_000
	// DefaultMaxTotalPoints is the default bound on the points of all ids:
	// 16 MB of points, and at most twice that with the slack of the ring
	// buffers as they grow.
	DefaultMaxTotalPoints = 1_000_000
)

func defaultOptions() options {
	return options{
		maxPoints: DefaultMaxPoints,
		maxAge:    DefaultMaxAge,
		maxIDs:    DefaultMaxIDs,
		maxTotal:  DefaultMaxTotalPoints,
		now:       time.Now,
	}
}

// MaxPoints bounds the points of each id without a matching Limit; n >= 1.
// Defaults to DefaultMaxPoints (10,000).
func MaxPoints(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: MaxPoints(%d): at least 1", ErrInvalidOption, n)
		}
		o.maxPoints = n
		return nil
	}
}

// MaxAge bounds the age of the points of each id without a matching
// Limit, measured from the store's clock; 0 means no age bound. Defaults
// to DefaultMaxAge (24h).
func MaxAge(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("%w: MaxAge(%v): negative", ErrInvalidOption, d)
		}
		o.maxAge = d
		return nil
	}
}

// Limit bounds the ids that match idOrPattern (an id, or a pattern such as
// "greenhouse.>" or "*.temp") to maxPoints points no older than maxAge. A
// 0 takes the global bound (MaxPoints, MaxAge); maxAge < 0 means no age
// bound. Of several Limits, the first that matches an id applies. An id's
// bound is chosen when it gets its first point. There are none by default.
func Limit(idOrPattern string, maxPoints int, maxAge time.Duration) Option {
	return func(o *options) error {
		p, err := ipc.ParsePattern(idOrPattern)
		if err != nil {
			return fmt.Errorf("%w: Limit: %w", ErrInvalidOption, err)
		}
		if maxPoints < 0 {
			return fmt.Errorf("%w: Limit %q: maxPoints %d is negative", ErrInvalidOption, idOrPattern, maxPoints)
		}
		o.limits = append(o.limits, limit{pattern: p, maxPoints: maxPoints, maxAge: maxAge})
		return nil
	}
}

// MaxIDs bounds the number of ids; n >= 1. A new id beyond it makes the
// least recently updated id be forgotten. Defaults to DefaultMaxIDs
// (10,000).
func MaxIDs(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: MaxIDs(%d): at least 1", ErrInvalidOption, n)
		}
		o.maxIDs = n
		return nil
	}
}

// MaxTotalPoints bounds the points of all ids together; n >= 1. A point
// beyond it makes the least recently updated id lose its oldest point.
// Defaults to DefaultMaxTotalPoints (1,000,000).
func MaxTotalPoints(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: MaxTotalPoints(%d): at least 1", ErrInvalidOption, n)
		}
		o.maxTotal = n
		return nil
	}
}

// Clock sets the clock against which ages are measured, for tests.
// Defaults to time.Now.
func Clock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return fmt.Errorf("%w: Clock(nil)", ErrInvalidOption)
		}
		o.now = now
		return nil
	}
}
