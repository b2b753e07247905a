// Package history keeps the recent past of a kervi application's number
// values for the dashboard's charts: the dashboard appends each number
// value event as it arrives (Store.Append) and, when a chart loads, asks
// for a time range reduced to about as many points as the chart is wide
// (Store.Query).
//
// Store is the small interface the dashboard uses, so that a durable store
// can replace the in-memory one later. Memory, made by NewMemory, is the
// in-memory store: a ring buffer per id of 16 bytes a point (the time as
// int64 Unix nanoseconds and the value), bounded per id by count and by
// age (MaxPoints, MaxAge, and per id or id pattern Limit) and in total
// (MaxIDs, MaxTotalPoints), so that a flood of new ids or of events cannot
// exhaust the dashboard's memory.
//
// # What is stored
//
// Each id's points are kept in time order. A point older than the newest
// of its id is refused with ErrOutOfOrder and changes nothing; a point
// with the same time as the newest replaces its value (a module that
// restarts republishes its last value with its old time: the history does
// not grow). A NaN or infinite value is refused with ErrInvalidValue.
// Errors name the id.
//
// # Downsampling: min and max per bucket, first and last kept
//
// Query with maxPoints > 0 returns at most maxPoints points (Downsample).
// The first and the last point of the range are always kept, so the chart
// starts and ends where the data does, and its end is the current value.
// The points between them are divided by time into (maxPoints-2)/2 buckets
// of equal width, one bucket for about two pixels of a chart asking for
// twice its width in points, and of each bucket the point with the least
// and the point with the greatest value are kept, in time order (one point
// when they are the same).
//
// Min and max rather than the mean: a chart of a noisy sensor drawn from
// bucket means hides its spikes, and spikes (a current surge, a door left
// open, a sensor glitch) are often what a user opens a history chart to
// find. Keeping each bucket's extremes draws, at the chart's resolution,
// the same envelope as the raw data: this is the M4 result of Jugel et
// al., "M4: A Visualization-Oriented Time Series Data Aggregation" (VLDB
// 2014), of which this keeps min and max (the first and last of each
// bucket matter only for the lines between columns). Every point returned
// is a real sample, so a tooltip shows a value that really happened, and
// downsampled and raw answers have the same form ([]Point), so the chart
// draws either as a plain line with no band or aggregate series.
//
// LTTB (Largest-Triangle-Three-Buckets) was not chosen: it keeps one
// point per bucket, the one that best preserves the line's shape, which
// usually but not always keeps a spike (two spikes of opposite sign in one
// bucket lose one), and it costs more per point. A Bucket type with Min,
// Max and Mean was not chosen either: it needs a chart that draws bands,
// and the mean is not needed to see the range of the data.
//
// # Limits
//
// Each id is bounded by a count and an age, chosen when the id gets its
// first point: the first Limit whose pattern matches the id, else the
// global MaxPoints and MaxAge. When an id is full, its oldest point makes
// room for the new one. Points older than the age bound are not returned
// by Query, and are dropped from an id when it next gets a point.
//
// In total, a Memory holds at most MaxIDs ids and MaxTotalPoints points.
// A new id beyond MaxIDs makes the least recently updated id be forgotten.
// A point beyond MaxTotalPoints makes the least recently updated id lose
// its oldest point (and be forgotten when it has none left). The totals
// are a guard against floods, such as a bug that makes a new id for each
// reading; set the per-id limits so that ids times points stay under
// MaxTotalPoints, or the values that change least often lose their
// history first. Each Append also forgets the least recently updated id
// when all of its points are older than its age bound, so that ids
// nobody publishes any more do not keep their memory.
//
// # Patterns
//
// Limit patterns are kervi's (ipc.ParsePattern): "." separates tokens,
// "*" matches one token and a last ">" one token or more
// ("greenhouse.>", "*.temp", ">").
package history
