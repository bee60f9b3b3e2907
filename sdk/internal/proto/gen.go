// Package proto holds the Lathe plugin protocol: lathe.proto and the Go code
// protoc generates from it. Only sdk/internal/wire uses it directly; plugin
// authors and the core see the plain Go types of package sdk.
//
// Regenerate with `go generate ./sdk/internal/proto` (make proto); it needs
// protoc (make deps). The two code generators are pinned as tool
// directives in go.mod and run through `go tool`, so every regeneration
// uses the versions that made the committed code.
package proto

//go:generate sh -c "protoc --plugin=protoc-gen-go=$(go tool -n protoc-gen-go) --plugin=protoc-gen-go-grpc=$(go tool -n protoc-gen-go-grpc) --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative lathe.proto"
