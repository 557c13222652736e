// Command benchsum summarizes the output of rounds of `go test -bench Delivery` (read on
// standard input; make bench writes it to build/bench.txt): for each sub-benchmark the
// median, lowest and highest ns/event and cpu-ns/event over the rounds, then the ratio of
// each Go mode to the C consumer of the same delivery. A ratio is taken within each round
// (the i-th run of one pairs with the i-th run of the other, measured side by side in one
// invocation), and the median of those ratios is printed.
package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

type run struct{ ns, cpu float64 }

var line = regexp.MustCompile(`^BenchmarkDelivery/(\S+?)(-\d+)?\s+\d+\s+([\d.]+) ns/op.*?\s([\d.]+) cpu-ns/event`)

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minMax(v []float64) (float64, float64) {
	lo, hi := v[0], v[0]
	for _, x := range v {
		if x < lo {
			lo = x
		}
		if x > hi {
			hi = x
		}
	}
	return lo, hi
}

func us(ns float64) string { return strconv.FormatFloat(ns/1000, 'f', 1, 64) }

func main() {
	runs := map[string][]run{}
	var order []string
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		ns, _ := strconv.ParseFloat(m[3], 64)
		cpu, _ := strconv.ParseFloat(m[4], 64)
		if _, ok := runs[m[1]]; !ok {
			order = append(order, m[1])
		}
		runs[m[1]] = append(runs[m[1]], run{ns, cpu})
	}
	if len(order) == 0 {
		fmt.Fprintln(os.Stderr, "benchsum: no BenchmarkDelivery lines")
		os.Exit(1)
	}
	fmt.Println("| delivery | runs | µs/event: median (min – max) | CPU µs/event: median (min – max) |")
	fmt.Println("| --- | --- | --- | --- |")
	for _, name := range order {
		var ns, cpu []float64
		for _, r := range runs[name] {
			ns, cpu = append(ns, r.ns), append(cpu, r.cpu)
		}
		nlo, nhi := minMax(ns)
		clo, chi := minMax(cpu)
		fmt.Printf("| %s | %d | %s (%s – %s) | %s (%s – %s) |\n", name, len(ns),
			us(median(ns)), us(nlo), us(nhi), us(median(cpu)), us(clo), us(chi))
	}
	fmt.Println()
	fmt.Println("Go / C: the median of the per-round ratios (wall; CPU); for blocks also Go's throughput as a share of C's.")
	fmt.Println()
	fmt.Println("| delivery | Go / C wall | Go / C CPU | throughput Go / C |")
	fmt.Println("| --- | --- | --- | --- |")
	for _, name := range order {
		kind, mode, ok := strings.Cut(name, "/")
		if !ok || strings.HasPrefix(mode, "c-") {
			continue
		}
		cname := kind + "/c-" + mode
		if mode == "callbacks" {
			cname = kind + "/c-callbacks"
		}
		g, c := runs[name], runs[cname]
		n := len(g)
		if len(c) < n {
			n = len(c)
		}
		if n == 0 {
			continue
		}
		var wall, cpu, thr []float64
		for i := 0; i < n; i++ {
			wall = append(wall, g[i].ns/c[i].ns)
			cpu = append(cpu, g[i].cpu/c[i].cpu)
			thr = append(thr, c[i].ns/g[i].ns)
		}
		t := "—"
		if strings.HasPrefix(kind, "block") {
			t = fmt.Sprintf("%.2f", median(thr))
		}
		fmt.Printf("| %s vs %s | %.2f | %.2f | %s |\n", name, cname, median(wall), median(cpu), t)
	}
}
