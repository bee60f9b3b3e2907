//go:build unix && !linux

package pluginhost

import "syscall"

// procAttr puts the plugin in its own process group; see procattr_linux.go.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
