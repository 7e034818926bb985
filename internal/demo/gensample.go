//go:build ignore

// gensample makes the demo's sample of the UCI Online Retail data set:
// every line of the invoices of a seeded random 15% of customers, and of 5%
// of the guest invoices, in file order. Run from the repository root:
//
//	go run internal/demo/gensample.go ../shared/data/online-retail/online-retail.csv.gz
package main

import (
	"compress/gzip"
	"encoding/csv"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

func keep(key string, percent uint64) bool {
	h := fnv.New64a()
	h.Write([]byte("tailor-demo-sample-v1:" + key))
	return h.Sum64()%100 < percent
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	f, err := os.Open(os.Args[1])
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	out, err := os.Create("internal/demo/online-retail-sample.csv.gz")
	if err != nil {
		return err
	}
	zw, _ := gzip.NewWriterLevel(out, gzip.BestCompression)
	r := csv.NewReader(zr)
	w := csv.NewWriter(zw)
	header, err := r.Read()
	if err != nil {
		return err
	}
	w.Write(header)
	n := 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		customer, invoice := rec[6], rec[0]
		if (customer != "" && keep("c:"+customer, 15)) || (customer == "" && keep("i:"+invoice, 5)) {
			w.Write(rec)
			n++
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	fmt.Printf("wrote %d lines\n", n)
	return out.Close()
}
