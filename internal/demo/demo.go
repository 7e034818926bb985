// Package demo carries the sample shop that 'tailor demo' loads: a sample of
// the UCI Online Retail data set (Daqing Chen, Sai Liang Sain and Kun Guo,
// 2012; UCI Machine Learning Repository; CC BY 4.0): every invoice line of a
// seeded random 15% of customers and 5% of guest invoices, from 2010-12-01
// to 2011-10-31. gensample.go makes it.
package demo

import (
	"bytes"
	"compress/gzip"
	_ "embed" // the sample is embedded in the binary
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

//go:embed online-retail-sample.csv.gz
var sample []byte

// SampleName is the file name the sample is written under.
const SampleName = "online-retail-sample.csv.gz"

// Credit is the attribution the sample's licence asks for.
const Credit = "Online Retail data set: Daqing Chen, Sai Liang Sain and Kun Guo (2012), UCI Machine Learning Repository, CC BY 4.0"

// WriteSample writes the sample into dir and returns its path.
func WriteSample(dir string) (string, error) {
	path := filepath.Join(dir, SampleName)
	if err := os.WriteFile(path, sample, 0o644); err != nil {
		return "", fmt.Errorf("write demo sample: %w", err)
	}
	return path, nil
}

// dateLayout is how the sample writes InvoiceDate.
const dateLayout = "2006-01-02 15:04:05"

// WriteSampleEndingBy writes the sample into dir with every invoice date
// moved forward by the whole number of weeks that puts its last invoice in
// the week before end (weekdays and hours stay as they were), so that the
// events a demo records now follow on from its history. It returns the
// path and the number of weeks.
func WriteSampleEndingBy(dir string, end time.Time) (string, int, error) {
	zr, err := gzip.NewReader(bytes.NewReader(sample))
	if err != nil {
		return "", 0, fmt.Errorf("read demo sample: %w", err)
	}
	rows, err := csv.NewReader(zr).ReadAll()
	if err != nil {
		return "", 0, fmt.Errorf("read demo sample: %w", err)
	}
	if len(rows) < 2 {
		return "", 0, errors.New("read demo sample: no rows")
	}
	col := slices.Index(rows[0], "InvoiceDate")
	if col < 0 {
		return "", 0, errors.New("read demo sample: no InvoiceDate column")
	}
	dates := make([]time.Time, len(rows))
	var last time.Time
	for i := 1; i < len(rows); i++ {
		d, err := time.Parse(dateLayout, rows[i][col])
		if err != nil {
			return "", 0, fmt.Errorf("read demo sample: line %d: InvoiceDate: %w", i+1, err)
		}
		dates[i] = d
		if d.After(last) {
			last = d
		}
	}
	const week = 7 * 24 * time.Hour
	// The sample's dates are wall-clock times without a zone; compare them
	// with end's wall clock.
	wall := time.Date(end.Year(), end.Month(), end.Day(), end.Hour(), end.Minute(), end.Second(), 0, time.UTC)
	weeks := 0
	if wall.After(last) {
		weeks = int(wall.Sub(last) / week)
	}
	shift := time.Duration(weeks) * week
	for i := 1; i < len(rows); i++ {
		rows[i][col] = dates[i].Add(shift).Format(dateLayout)
	}
	path := filepath.Join(dir, SampleName)
	f, err := os.Create(path)
	if err != nil {
		return "", 0, fmt.Errorf("write demo sample: %w", err)
	}
	zw := gzip.NewWriter(f)
	w := csv.NewWriter(zw)
	if err := w.WriteAll(rows); err != nil {
		f.Close()
		return "", 0, fmt.Errorf("write demo sample: %w", err)
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return "", 0, fmt.Errorf("write demo sample: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", 0, fmt.Errorf("write demo sample: %w", err)
	}
	return path, weeks, nil
}
