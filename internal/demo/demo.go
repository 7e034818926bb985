// Package demo carries the sample shop that 'tailor demo' loads: a sample of
// the UCI Online Retail data set (Daqing Chen, Sai Liang Sain and Kun Guo,
// 2012; UCI Machine Learning Repository; CC BY 4.0): every invoice line of a
// seeded random 15% of customers and 5% of guest invoices, from 2010-12-01
// to 2011-10-31. gensample.go makes it.
package demo

import (
	_ "embed" // the sample is embedded in the binary
	"fmt"
	"os"
	"path/filepath"
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
