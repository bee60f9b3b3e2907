package pluginhost

import "syscall"

// procAttr puts the plugin in its own process group (so Kill reaches all it
// forked, and a terminal's Ctrl-C reaches only the host, which then shuts
// plugins down in order) and has the kernel kill it if the host dies
// without doing so.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
