//go:build !unix

package glove

import "os"

// dontNeed does nothing: the vectors are on the heap.
func dontNeed([]byte) {}

// mapFile reads the file (no mapping on this system).
func mapFile(path string) ([]byte, func(), error) {
	b, err := os.ReadFile(path)
	return b, func() {}, err
}
