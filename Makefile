# Developer shortcuts. CI runs .ci/run; nothing here is needed to build.

.PHONY: proto test bench lint

# Regenerate internal/kervipb from proto/kervi.proto: the messages
# (kervi.pb.go), the gRPC service (kervi_grpc.pb.go), and the fast
# marshal, unmarshal and size methods the frame codec uses
# (kervi_vtproto.pb.go, internal/wirecodec). Needs protoc and:
#   go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
#   go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
#   go install github.com/planetscale/vtprotobuf/cmd/protoc-gen-go-vtproto@v0.6.0
# (in $(go env GOPATH)/bin, which must be on PATH). The generated files are
# committed, so a build needs none of this.
proto:
	protoc -I proto --go_out=internal/kervipb --go_opt=paths=source_relative \
		--go-grpc_out=internal/kervipb --go-grpc_opt=paths=source_relative \
		--go-vtproto_out=internal/kervipb \
		--go-vtproto_opt=paths=source_relative,features=marshal+unmarshal+size \
		proto/kervi.proto

test:
	go test -race ./...

bench:
	go test -run '^$$' -bench . -benchtime 1x ./...

lint:
	go vet ./...
	staticcheck ./...
