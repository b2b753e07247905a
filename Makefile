# Developer shortcuts. CI runs .ci/run; nothing here is needed to build.

.PHONY: proto test bench lint

# Regenerate proto/kervipb from proto/kervi.proto. Needs protoc and:
#   go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
#   go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
proto:
	protoc -I proto --go_out=proto/kervipb --go_opt=paths=source_relative \
		--go-grpc_out=proto/kervipb --go-grpc_opt=paths=source_relative \
		proto/kervi.proto

test:
	go test -race ./...

bench:
	go test -run '^$$' -bench . -benchtime 1x ./...

lint:
	go vet ./...
	staticcheck ./...
