//go:build !linux

package main

import (
	"errors"
	"syscall"
	"time"
)

var errNoProc = errors.New("bench: CPU and memory figures need Linux's /proc")

func procUsage(string) (procStats, error)                  { return procStats{}, errNoProc }
func machineUsage() (busy, total time.Duration, err error) { return 0, 0, errNoProc }
func loadAverage() []float64                               { return nil }
func childProcAttr() *syscall.SysProcAttr                  { return nil }
