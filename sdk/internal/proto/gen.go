// Package proto holds the Lathe plugin protocol: lathe.proto and the Go code
// protoc generates from it. Only sdk/internal/wire uses it directly; plugin
// authors and the core see the plain Go types of package sdk.
//
// Regenerate with `go generate ./sdk/internal/proto` (make proto); it needs
// protoc, protoc-gen-go and protoc-gen-go-grpc on PATH.
package proto

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative lathe.proto
