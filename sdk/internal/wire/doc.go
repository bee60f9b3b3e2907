// Package wire carries the sdk interfaces over gRPC: the handshake, the
// go-plugin plugin definitions, the servers that adapt an sdk implementation
// to the generated gRPC services, the clients that adapt them back, and the
// sdk<->protobuf converters. It is internal so that plugin authors only ever
// see package sdk, sdk/serve and sdk/sdktest; the host reaches it through
// sdk/pluginclient.
package wire
