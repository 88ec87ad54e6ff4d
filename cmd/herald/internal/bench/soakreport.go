package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// write prints the soak's part of the report: the churn, the server's
// figures over time and the verdict.
func (s *SoakReport) write(w io.Writer) error {
	c := s.Churn
	fmt.Fprintf(w, "soak: %.0fs of load; churn: %d clients, %d cycles (%d welcomed, %d failed), left %d clean / %d abrupt / %d before Welcome\n",
		s.LoadSeconds, c.Clients, c.Cycles, c.Welcomed, c.Failed, c.CleanCloses, c.AbruptCloses, c.EarlyCloses)
	writeReasons(w, "  churn failed", c.FailReasons)
	writeReasons(w, "  churn closed by the server", c.ServerCloses)
	fmt.Fprintf(w, "resume: %d reconnections sent Resume, %d answered: %d streams recovered, %d not; %d pushes received, %d gaps, %d duplicates\n",
		c.Resumes, c.ResumeResults, c.StreamsRecovered, c.StreamsNotRecovered, c.Pushes, c.Gaps, c.Duplicates)
	if c.BadFrames > 0 {
		fmt.Fprintf(w, "churn bad frames: %d\n", c.BadFrames)
	}
	fmt.Fprintln(w, "server (forced GC before the baseline and after samples when its pprof is on):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "t s\tphase\tconns\tgoroutines\tRSS\theap in use\tGC forced\t")
	rows := append([]SoakSample{s.Baseline}, s.Samples...)
	checked := s.After.Phase != ""
	if checked {
		rows = append(rows, s.After)
	}
	for _, r := range rows {
		gc := "no"
		if r.AfterGC {
			gc = "yes"
		}
		fmt.Fprintf(tw, "%.0f\t%s\t%d\t%d\t%s\t%s\t%s\t\n", r.Seconds, r.Phase, r.Connections, r.Goroutines, mib(r.RSS), mib(r.HeapInuse), gc)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !checked {
		_, err := fmt.Fprintln(w, "no check of the server after the load: the run ended early")
		return err
	}
	t, b, a := s.Tolerance, s.Baseline, s.After
	fmt.Fprintf(w, "back to baseline %.0fs after the clients closed (tolerance: goroutines +%d, heap +%s, RSS +%s):\n",
		s.SettleSeconds, t.Goroutines, mib(t.HeapBytes), mib(t.RSSBytes))
	fmt.Fprintf(w, "  goroutines %s: %d -> %d\n", verdict(s.GoroutinesBack), b.Goroutines, a.Goroutines)
	fmt.Fprintf(w, "  heap       %s: %s -> %s\n", verdict(s.HeapBack), mib(b.HeapInuse), mib(a.HeapInuse))
	_, err := fmt.Fprintf(w, "  RSS        %s: %s -> %s\n", verdict(s.RSSBack), mib(b.RSS), mib(a.RSS))
	return err
}

func verdict(back bool) string {
	if back {
		return "yes"
	}
	return "NO "
}
