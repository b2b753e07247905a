package history

// ring is one id's points in time order, in a buffer that grows by
// doubling up to the id's bound and shrinks when mostly empty.
type ring struct {
	buf  []sample
	head int // index in buf of the oldest point
	n    int // points held
}

// minRing is the smallest buffer a ring allocates or shrinks to.
const minRing = 8

// at is the i-th oldest point, 0 <= i < n.
func (r *ring) at(i int) sample {
	j := r.head + i
	if j >= len(r.buf) {
		j -= len(r.buf)
	}
	return r.buf[j]
}

// newest is the newest point; n > 0.
func (r *ring) newest() *sample {
	j := r.head + r.n - 1
	if j >= len(r.buf) {
		j -= len(r.buf)
	}
	return &r.buf[j]
}

// push adds s as the newest point. A full ring of bound points loses its
// oldest; push reports whether the count grew.
func (r *ring) push(s sample, bound int) bool {
	if r.n == len(r.buf) && len(r.buf) < bound {
		r.resize(min(bound, max(minRing, 2*len(r.buf))))
	}
	if r.n == len(r.buf) {
		r.buf[r.head] = s
		r.head++
		if r.head == len(r.buf) {
			r.head = 0
		}
		return false
	}
	j := r.head + r.n
	if j >= len(r.buf) {
		j -= len(r.buf)
	}
	r.buf[j] = s
	r.n++
	return true
}

// dropOldest removes the k oldest points, k <= n, and shrinks a buffer
// left less than a quarter full.
func (r *ring) dropOldest(k int) {
	if k <= 0 {
		return
	}
	r.head += k
	if r.head >= len(r.buf) {
		r.head -= len(r.buf)
	}
	r.n -= k
	if r.n == 0 {
		r.head = 0
	}
	if len(r.buf) > minRing && r.n < len(r.buf)/4 {
		r.resize(max(minRing, 2*r.n))
	}
}

// resize moves the points to a buffer of size c >= n, oldest first.
func (r *ring) resize(c int) {
	buf := make([]sample, c)
	r.copyTo(buf, 0, r.n)
	r.buf, r.head = buf, 0
}

// copyTo copies the points lo..hi-1 (oldest first) to dst.
func (r *ring) copyTo(dst []sample, lo, hi int) {
	if lo >= hi {
		return
	}
	a := r.head + lo
	if a >= len(r.buf) {
		a -= len(r.buf)
	}
	k := copy(dst, r.buf[a:min(len(r.buf), a+hi-lo)])
	copy(dst[k:], r.buf[:hi-lo-k])
}

// search returns the index of the oldest point with time >= t, or n.
func (r *ring) search(t int64) int {
	lo, hi := 0, r.n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if r.at(m).t < t {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}
