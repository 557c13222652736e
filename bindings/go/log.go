package btcclient

/*
#include <btcclient.h>
#include "bridge.h"
*/
import "C"

import (
	"runtime/cgo"
	"sync"
)

// LogLevel is the severity of a library log record, and the filter of SetLogger.
type LogLevel uint32

// Log levels, from none to the most verbose.
const (
	LogOff   LogLevel = C.BTCCLIENT_LOG_LEVEL_OFF
	LogError LogLevel = C.BTCCLIENT_LOG_LEVEL_ERROR
	LogWarn  LogLevel = C.BTCCLIENT_LOG_LEVEL_WARN
	LogInfo  LogLevel = C.BTCCLIENT_LOG_LEVEL_INFO
	LogDebug LogLevel = C.BTCCLIENT_LOG_LEVEL_DEBUG
	LogTrace LogLevel = C.BTCCLIENT_LOG_LEVEL_TRACE
)

func (l LogLevel) String() string {
	switch l {
	case LogOff:
		return "OFF"
	case LogError:
		return "ERROR"
	case LogWarn:
		return "WARN"
	case LogInfo:
		return "INFO"
	case LogDebug:
		return "DEBUG"
	case LogTrace:
		return "TRACE"
	}
	return "LogLevel(?)"
}

// LogFunc receives one library log record: its level, the module that logged (e.g.
// "btcclient_manager::connection") and the message (span fields such as
// "peer{id=1 addr=1.2.3.4:8333}:" first). It is called from the library's threads,
// possibly concurrently, and must not call into the client.
type LogFunc func(level LogLevel, target, message string)

var logger struct {
	sync.Mutex
	handle cgo.Handle
}

// SetLogger sends the library's log records at level and more severe to f, for every
// client of the process; a nil f or LogOff turns logging off. When it returns, the
// previous function is no longer called.
func SetLogger(level LogLevel, f LogFunc) error {
	logger.Lock()
	defer logger.Unlock()
	var h cgo.Handle
	on := C.int(0)
	if f != nil && level != LogOff {
		h = cgo.NewHandle(f)
		on = 1
	}
	st := C.go_set_logger(C.uintptr_t(h), C.uint32_t(level), on)
	if st != C.BTCCLIENT_STATUS_OK {
		if h != 0 {
			h.Delete()
		}
		return newError(Status(st), "btcclient_set_logger failed: "+Status(st).String())
	}
	if logger.handle != 0 {
		logger.handle.Delete()
	}
	logger.handle = h
	return nil
}
