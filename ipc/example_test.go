package ipc_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/ipc/ipctest"
	"github.com/kervi/kervi-go/values"
)

func ExampleGet() {
	// In an application the buses come from kervi; here, a test hub with two
	// modules.
	hub := ipctest.New()
	defer hub.Close()
	sensors, _ := hub.Connect("sensors")
	heating, _ := hub.Connect("heating")
	values.NewNumber(sensors, "room.temp", "Room", values.Unit("°C"), values.Initial(21.5))
	values.NewString(sensors, "room.name", "Name")
	sensors.Flush(context.Background()) // the hub knows the ids

	ctx := heating.Context() // contexts from kervi carry the bus
	temp, err := ipc.Get[float64](ctx, "room.temp")
	fmt.Println(temp, err)
	_, err = ipc.Get[string](ctx, "room.temp")
	fmt.Println(errors.Is(err, ipc.ErrWrongType), err)
	_, err = ipc.Get[string](ctx, "room.name")
	fmt.Println(errors.Is(err, ipc.ErrNoValue))
	// Output:
	// 21.5 <nil>
	// true kervi: "room.temp": a number value cannot be read as string
	// true
}

func ExampleSet() {
	hub := ipctest.New()
	defer hub.Close()
	hub.Module("heating", func(ctx context.Context, bus *ipc.Bus) error {
		values.NewNumber(bus, "heating.target", "Target", values.Unit("°C"), values.Range(5, 30), values.Initial(20))
		return nil
	})
	ui, _ := hub.Module("ui", nil)
	hub.Start(context.Background()) // the modules run: they call each other

	ctx := ui.Context() // contexts from kervi carry the bus
	fmt.Println(ipc.Set(ctx, "heating.target", 22.5))
	target, _ := ipc.Get[float64](ctx, "heating.target")
	fmt.Println(target)
	err := ipc.Set(ctx, "heating.target", 45)
	fmt.Println(errors.Is(err, ipc.ErrOutOfRange))
	// Output:
	// <nil>
	// 22.5
	// true
}

func ExampleDescribeData() {
	type point struct {
		X float64 `json:"x"`
		Y float64 `json:"y"`
	}
	type track struct {
		Name   string        `json:"name"`
		Points []point       `json:"points"`
		Start  time.Time     `json:"start"`
		Every  time.Duration `json:"every,omitempty"`
	}
	dt, err := ipc.DescribeData(reflect.TypeFor[track]())
	fmt.Println(dt.Kind, dt.Name, err)
	for _, f := range dt.Fields {
		fmt.Println(" ", f.Name, f.Type.Kind)
	}
	fmt.Println(dt.Fields[1].Type.Elem.Name, dt.Fields[1].Type.Elem.Fields[0].Name)

	type node struct{ Next *node }
	_, err = ipc.DescribeData(reflect.TypeFor[node]())
	fmt.Println(err)
	// Output:
	// struct track <nil>
	//   name string
	//   points list
	//   start time
	//   every duration
	// point x
	// field "Next": type ipc_test.node contains itself; recursive types cannot cross processes
}
