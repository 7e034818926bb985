//go:build unix

package glove

import (
	"fmt"
	"os"
	"syscall"
)

// mapFile maps the file read-only: the vectors' pages become resident only
// as words are looked up, rather than all 20 MB at once on the heap. A
// loaded file's mapping lasts as long as the process (Vectors are loaded
// once); release unmaps a file that failed to load.
func mapFile(path string) (b []byte, release func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if st.Size() == 0 || st.Size() > 1<<34 {
		return nil, nil, fmt.Errorf("%s: %d bytes", path, st.Size())
	}
	b, err = syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return b, func() { syscall.Munmap(b) }, nil
}

// dontNeed tells the system the mapped pages need not stay resident: they
// are read again from the page cache when a word is looked up.
func dontNeed(b []byte) {
	if len(b) > 0 {
		syscall.Madvise(b, syscall.MADV_DONTNEED)
	}
}
