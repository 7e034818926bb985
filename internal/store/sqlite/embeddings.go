package sqlite

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
)

// Embeddings returns the stored vectors of the text hashes it has, for
// one model (llm.EmbeddingStore).
func (db *DB) Embeddings(ctx context.Context, model string, hashes [][sha256.Size]byte) (map[[sha256.Size]byte][]float32, error) {
	out := make(map[[sha256.Size]byte][]float32, len(hashes))
	const chunk = 2000
	for lo := 0; lo < len(hashes); lo += chunk {
		list := make([]string, 0, min(chunk, len(hashes)-lo))
		for _, h := range hashes[lo:min(lo+chunk, len(hashes))] {
			list = append(list, hex.EncodeToString(h[:]))
		}
		b, err := json.Marshal(list)
		if err != nil {
			return nil, err
		}
		rows, err := db.r.QueryContext(ctx, `SELECT text_hash, vector FROM embeddings
			WHERE model = ? AND text_hash IN (SELECT unhex(value) FROM json_each(?))`, model, string(b))
		if err != nil {
			return nil, fmt.Errorf("read embeddings: %w", err)
		}
		for rows.Next() {
			var h, v []byte
			if err := rows.Scan(&h, &v); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read embeddings: %w", err)
			}
			if len(h) != sha256.Size || len(v)%4 != 0 {
				rows.Close()
				return nil, fmt.Errorf("read embeddings: a row of %d and %d bytes", len(h), len(v))
			}
			vec := make([]float32, len(v)/4)
			for i := range vec {
				vec[i] = math.Float32frombits(binary.LittleEndian.Uint32(v[4*i:]))
			}
			out[[sha256.Size]byte(h)] = vec
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("read embeddings: %w", err)
		}
	}
	return out, nil
}

// PutEmbeddings stores vectors by text hash for one model, in one
// transaction.
func (db *DB) PutEmbeddings(ctx context.Context, model string, vectors map[[sha256.Size]byte][]float32) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store embeddings: %w", err)
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO embeddings (model, text_hash, vector) VALUES (?, ?, ?)`)
	if err == nil {
		buf := []byte(nil)
		for h, v := range vectors {
			buf = buf[:0]
			for _, x := range v {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
			}
			if _, err = stmt.ExecContext(ctx, model, h[:], buf); err != nil {
				break
			}
		}
		stmt.Close()
	}
	if err == nil {
		err = tx.Commit()
	} else {
		rollback(tx)
	}
	if err != nil {
		return fmt.Errorf("store embeddings: %w", err)
	}
	return nil
}
