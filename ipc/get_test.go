package ipc_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kervi/kervi-go/internal/testbus"
	"github.com/kervi/kervi-go/ipc"
)

// ownValue registers a number input on b whose sets are published at once.
func ownValue(t *testing.T, b *ipc.Bus, id string) *ipc.Publisher {
	t.Helper()
	min, max := 0.0, 100.0
	var pub *ipc.Publisher
	pub, err := b.RegisterValue(ipc.Description{ID: id, Name: "Setting", Type: ipc.TypeNumber, Unit: "%", Min: &min, Max: &max},
		func(ctx context.Context, v ipc.Value) error { return pub.Publish(v, time.Now()) })
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func TestGetReadsTheCurrentContentAnywhere(t *testing.T) {
	th := newTestHub(t)
	owner, _ := th.bus(t, "owner")
	reader, _ := th.bus(t, "reader")
	pub := ownValue(t, owner, "owner.setting")
	th.start(t)
	ctx := ipc.NewContext(context.Background(), reader)

	if _, err := reader.Get(ctx, "owner.setting"); !errors.Is(err, ipc.ErrNoValue) || !strings.Contains(err.Error(), `"owner.setting"`) {
		t.Fatalf("before any content: %v", err)
	}
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	must(t, pub.Publish(ipc.NumberValue(21.5), at))
	ev, err := reader.Get(ctx, "owner.setting")
	if err != nil || ev.ID != "owner.setting" || ev.Value != ipc.NumberValue(21.5) || !ev.Time.Equal(at) {
		t.Fatalf("Get = %+v, %v", ev, err)
	}
	// A read sees the set its caller made just before, although nobody
	// follows the value (its events to the hub are coalesced).
	for i := range 200 {
		must(t, reader.Set(ctx, "owner.setting", float64(i%100)))
		if v, err := ipc.Get[float64](ctx, "owner.setting"); err != nil || v != float64(i%100) {
			t.Fatalf("read after set %d: %v, %v", i, v, err)
		}
	}
	// Its owner reads it too, without a round trip.
	if v, err := ipc.Get[float64](ipc.NewContext(ctx, owner), "owner.setting"); err != nil || v != 99 {
		t.Fatalf("local read: %v, %v", v, err)
	}
}

func TestGetIsTyped(t *testing.T) {
	h := testbus.New(t)
	owner := h.Bus("owner", nil)
	reader := h.Bus("reader", nil)
	ownValue(t, owner, "n").Publish(ipc.NumberValue(3), time.Now())
	text, _ := owner.RegisterValue(ipc.Description{ID: "s", Type: ipc.TypeEnum, Choices: []ipc.Choice{{Value: "auto"}, {Value: "on"}}}, nil)
	text.Publish(ipc.EnumValue("auto"), time.Now())
	when, _ := owner.RegisterValue(ipc.Description{ID: "t", Type: ipc.TypeDateTime}, nil)
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	when.Publish(ipc.DateTimeValue(at), time.Now())
	h.Run()
	ctx := ipc.NewContext(context.Background(), reader)

	if v, err := ipc.Get[float64](ctx, "n"); err != nil || v != 3 {
		t.Errorf("float64: %v, %v", v, err)
	}
	if v, err := ipc.Get[string](ctx, "s"); err != nil || v != "auto" {
		t.Errorf("string: %v, %v", v, err)
	}
	if v, err := ipc.Get[time.Time](ctx, "t"); err != nil || !v.Equal(at) {
		t.Errorf("time: %v, %v", v, err)
	}
	if v, err := ipc.Get[ipc.Value](ctx, "s"); err != nil || v != ipc.EnumValue("auto") {
		t.Errorf("Value: %v, %v", v, err)
	}
	if ev, err := ipc.Get[ipc.Event](ctx, "n"); err != nil || ev.ID != "n" || ev.Value.Number() != 3 {
		t.Errorf("Event: %v, %v", ev, err)
	}
	_, err := ipc.Get[string](ctx, "n")
	if !errors.Is(err, ipc.ErrWrongType) || err.Error() != `kervi: "n": a number value cannot be read as string` {
		t.Errorf("string of a number: %v", err)
	}
	_, err = ipc.Get[bool](ctx, "t")
	if !errors.Is(err, ipc.ErrWrongType) || !strings.Contains(err.Error(), "a datetime value cannot be read as bool") {
		t.Errorf("bool of a datetime: %v", err)
	}
	_, err = ipc.Get[int](ctx, "n")
	if !errors.Is(err, ipc.ErrWrongType) || !strings.Contains(err.Error(), `"n"`) || !strings.Contains(err.Error(), "*int is not a type") {
		t.Errorf("int: %v", err)
	}
	if _, err := ipc.Get[float64](context.Background(), "n"); !errors.Is(err, ipc.ErrNoBus) {
		t.Errorf("no bus: %v", err)
	}
}

func TestGetOfUnknownIDs(t *testing.T) {
	h := testbus.New(t)
	owner := h.Bus("owner", nil)
	reader := h.Bus("reader", nil)
	owner.RegisterAction(ipc.Description{ID: "owner.act"}, func(context.Context, ipc.Args) (any, error) { return nil, nil })
	must(t, h.Setup("owner", nil))
	ctx := ipc.NewContext(context.Background(), reader)

	// A module's setup cannot wait for other modules: it fails at once.
	must(t, h.Setup("reader", func(ctx context.Context, b *ipc.Bus) error {
		if _, err := b.Get(ctx, "nobody.yet"); !errors.Is(err, ipc.ErrNotReady) {
			t.Errorf("read from setup: %v", err)
		}
		if _, err := b.Describe(ctx, "nobody.yet"); !errors.Is(err, ipc.ErrNotReady) {
			t.Errorf("describe from setup: %v", err)
		}
		return nil
	}))

	// Before the application is ready, a read of an id nobody owns waits
	// for it, for as long as its context allows.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err := reader.Get(short, "nobody.yet")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read before ready: %v", err)
	}
	waited := make(chan error, 1)
	go func() {
		_, err := reader.Get(ctx, "nobody.ever")
		waited <- err
	}()
	h.Start()
	if err := testbus.Wait(t, waited, "the read that waited"); !errors.Is(err, ipc.ErrUnknownID) {
		t.Fatalf("read that waited: %v", err)
	}

	// Once it is ready, an unknown id fails at once.
	t0 := time.Now()
	if _, err := reader.Get(ctx, "nobody.yet"); !errors.Is(err, ipc.ErrUnknownID) || time.Since(t0) > 5*time.Second {
		t.Fatalf("read after ready: %v", err)
	}
	if _, err := reader.Get(ctx, "owner.act"); !errors.Is(err, ipc.ErrUnknownID) || !strings.Contains(err.Error(), "not a value") {
		t.Fatalf("read of an action: %v", err)
	}
	if _, err := reader.Get(ctx, "bad id"); !errors.Is(err, ipc.ErrInvalidID) {
		t.Fatalf("invalid id: %v", err)
	}
	if _, err := reader.Describe(ctx, "nobody.yet"); !errors.Is(err, ipc.ErrUnknownID) {
		t.Fatalf("describe after ready: %v", err)
	}
}

func TestGetOfAValueWhoseOwnerStopped(t *testing.T) {
	th := newTestHub(t)
	owner, port := th.bus(t, "owner")
	reader, _ := th.bus(t, "reader")
	ownValue(t, owner, "owner.v").Publish(ipc.NumberValue(1), time.Now())
	th.start(t)
	ctx := ipc.NewContext(context.Background(), reader)
	if _, err := ipc.Get[float64](ctx, "owner.v"); err != nil {
		t.Fatal(err)
	}
	port.Detach()
	th.rt(owner).Kill()
	if _, err := reader.Get(ctx, "owner.v"); !errors.Is(err, ipc.ErrOwnerGone) || !strings.Contains(err.Error(), `"owner"`) {
		t.Fatalf("read of a stopped module's value: %v", err)
	}
}

func TestDescribe(t *testing.T) {
	h := testbus.New(t)
	owner := h.Bus("owner", nil)
	reader := h.Bus("reader", nil)
	ownValue(t, owner, "owner.setting")
	owner.RegisterAction(ipc.Description{ID: "owner.move", Name: "Move",
		Params: []ipc.Param{{Name: "to", Type: ipc.DataType{Kind: ipc.DataStruct, Name: "point",
			Fields: []ipc.Field{{Name: "x", Type: ipc.DataType{Kind: ipc.DataFloat}}}}}},
		Result: &ipc.DataType{Kind: ipc.DataList, Elem: &ipc.DataType{Kind: ipc.DataString}}},
		func(context.Context, ipc.Args) (any, error) { return nil, nil })
	h.Run()
	ctx := ipc.NewContext(context.Background(), reader)

	for _, b := range []*ipc.Bus{reader, owner} { // from another module, and locally
		d, err := b.Describe(ctx, "owner.setting")
		if err != nil || d.ID != "owner.setting" || d.Kind != ipc.KindValue || d.Module != "owner" || d.Type != ipc.TypeNumber ||
			!d.Input || d.Unit != "%" || d.Min == nil || *d.Min != 0 || d.Max == nil || *d.Max != 100 {
			t.Errorf("value from %s: %+v, %v", b.Module(), d, err)
		}
		d, err = b.Describe(ctx, "owner.move")
		if err != nil || d.Kind != ipc.KindAction || d.Name != "Move" || len(d.Params) != 1 || d.Params[0].Name != "to" ||
			d.Params[0].Type.Name != "point" || d.Params[0].Type.Fields[0].Type.Kind != ipc.DataFloat ||
			d.Result == nil || d.Result.Kind != ipc.DataList || d.Result.Elem.Kind != ipc.DataString {
			t.Errorf("action from %s: %+v, %v", b.Module(), d, err)
		}
	}
}
