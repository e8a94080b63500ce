// Command sbc is the luasbc SIP proxy and session border controller.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core"
	"github.com/luasbc/luasbc/core/backend"
	"github.com/luasbc/luasbc/core/config"
	"github.com/luasbc/luasbc/core/metrics"
	"github.com/luasbc/luasbc/core/rpc"
	"github.com/luasbc/luasbc/kemi"
	_ "github.com/luasbc/luasbc/modules/all"
)

func main() {
	os.Exit(run())
}

func run() int {
	var cfgPath string
	var check, version bool
	var cpuProfile string
	fs := flag.NewFlagSet("sbc", flag.ContinueOnError)
	fs.StringVar(&cfgPath, "c", "", "config file (YAML); empty = embedded default")
	fs.StringVar(&cfgPath, "config", "", "config file (YAML)")
	fs.BoolVar(&check, "check", false, "load config and script, report problems, exit")
	fs.BoolVar(&version, "version", false, "print the version")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile to this file until the server stops (for make bench)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: sbc [-c FILE] [--check] [--version]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if version {
		fmt.Printf("luasbc %s (%s/%s) %s\n", core.Version, runtime.GOARCH, runtime.GOOS, runtime.Version())
		return 0
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "config:", err)
		return 1
	}
	log, _, err := core.NewLogger(cfg.Log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "config:", err)
		return 1
	}
	defer func() { _ = log.Sync() }()
	backend.SetLogger(log.Named("redis"))

	if check {
		return checkOnly(cfg, log)
	}
	// A proxy's live heap is small and its garbage rate high: at Go's default
	// GOGC=100 the collector runs every few MB of traffic and costs more CPU
	// than the routing itself. 400 trades a few MB of heap for a fifth of the
	// collections; GOGC and GOMEMLIMIT in the environment still win.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	// The heap of a proxy grows with the transactions it holds (about 3 KB
	// each while they wait wt_timer); with GOGC=400 a load peak would take
	// five times that. The soft limit makes the collector work harder near
	// it instead.
	if os.Getenv("GOMEMLIMIT") == "" && cfg.Core.MemoryLimitMB > 0 {
		debug.SetMemoryLimit(int64(cfg.Core.MemoryLimitMB) << 20)
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			log.Error("cpu profile", zap.Error(err))
			return 1
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}

	c := core.New(cfg, log)
	rs := rpc.NewServer(log.Named("rpc"))
	eng, err := kemi.NewEngine(c, cfg, log.Named("lua"), rs)
	if err != nil {
		log.Error("start-up failed", zap.Error(err))
		return 1
	}
	c.Router = eng
	rs.Register(core.RPCMethods(c)...)
	if err := eng.Start(c.Workers() + 2); err != nil {
		log.Error("start-up failed", zap.Error(err))
		return 1
	}
	if err := c.Listen(); err != nil {
		log.Error("start-up failed", zap.Error(err))
		return 1
	}
	if err := eng.StartModules(); err != nil {
		log.Error("start-up failed", zap.Error(err))
		return 1
	}
	rs.Handle("/metrics", metrics.Handler())
	rs.Handle("/health", metrics.HealthHandler())
	rs.Handle("/ready", metrics.ReadyHandler())
	if cfg.RPC.Listen != "" {
		addr, err := rs.ListenHTTP(cfg.RPC.Listen)
		if err != nil {
			log.Error("rpc listener", zap.Error(err))
			return 1
		}
		log.Info("rpc listening", zap.String("addr", addr.String()))
	}
	if cfg.RPC.Socket != "" {
		if err := rs.ListenUnix(cfg.Path(cfg.RPC.Socket)); err != nil {
			log.Error("rpc socket", zap.Error(err))
			return 1
		}
	}
	c.Run()
	metrics.SetReady(true)
	v, _, path := eng.Version()
	log.Info("luasbc started", zap.Strings("listen", cfg.ListenRaw), zap.String("script", path),
		zap.Int("script_version", v), zap.Int("workers", c.Workers()))

	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	for s := range sig {
		if s == syscall.SIGHUP {
			if err := eng.Reload(); err != nil {
				log.Error("SIGHUP reload failed", zap.Error(err))
			}
			// Certificates too: new TLS connections get the files as they
			// are now; open ones keep theirs. A file that fails to load
			// leaves that profile as it was.
			if len(cfg.TLS) > 0 {
				if err := c.TP.ReloadTLS(); err != nil {
					log.Error("SIGHUP: TLS certificates not reloaded", zap.Error(err))
				} else {
					log.Info("TLS certificates reloaded")
				}
			}
			continue
		}
		log.Info("stopping", zap.String("signal", s.String()))
		metrics.SetReady(false)
		break
	}
	rs.Close()
	c.Stop(5 * time.Second)
	eng.Stop()
	backend.CloseAll()
	return 0
}

// checkOnly loads the config and script and starts every module without
// opening a SIP socket, so unreadable files, bad data and unreachable
// databases are reported too, like `kamailio -c` with its module init.
func checkOnly(cfg *config.Config, log *zap.Logger) int {
	c := core.New(cfg, log)
	eng, err := kemi.NewEngine(c, cfg, log.Named("lua"), nil)
	if err == nil {
		err = eng.Check()
	}
	if err == nil {
		err = eng.StartModules()
		eng.Stop()
		backend.CloseAll()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	name := cfg.File
	if name == "" {
		name = "(embedded default)"
	}
	fmt.Printf("config %s and script %s: OK\n", name, cfg.Lua.Load)
	return 0
}
