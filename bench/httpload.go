package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"
)

// HTTPLoad is the result of one load run.
type HTTPLoad struct {
	Requests  int
	Seconds   float64
	Latencies []time.Duration // one per request, sorted
}

// PerSecond is requests per second.
func (l HTTPLoad) PerSecond() float64 { return float64(l.Requests) / l.Seconds }

// Quantile is latency quantile q (0..1).
func (l HTTPLoad) Quantile(q float64) time.Duration {
	if len(l.Latencies) == 0 {
		return 0
	}
	return l.Latencies[min(len(l.Latencies)-1, int(q*float64(len(l.Latencies))))]
}

// LoadHTTP sends GET path to addr over conns keep-alive connections, each
// one request at a time, for d (bounded: it stops at d whatever the
// server does). Any failed request fails the run.
func LoadHTTP(ctx context.Context, addr, path string, conns int, d time.Duration) (HTTPLoad, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: bench\r\n\r\n")
	var (
		mu    sync.Mutex
		lat   []time.Duration
		first error
		wg    sync.WaitGroup
	)
	start := time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			err := func() error {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					return err
				}
				defer c.Close()
				go func() { <-ctx.Done(); c.SetDeadline(time.Now()) }()
				br := bufio.NewReader(c)
				for ctx.Err() == nil {
					t0 := time.Now()
					if _, err := c.Write(req); err != nil {
						return err
					}
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						return err
					}
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err != nil {
						return err
					}
					if resp.StatusCode != 200 {
						return fmt.Errorf("status %d", resp.StatusCode)
					}
					mine = append(mine, time.Since(t0))
				}
				return nil
			}()
			mu.Lock()
			defer mu.Unlock()
			lat = append(lat, mine...)
			if err != nil && ctx.Err() == nil && first == nil {
				first = err
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return HTTPLoad{Requests: len(lat), Seconds: secs, Latencies: lat}, first
}
