package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"
)

// Embeddings returns the stored vectors of the text hashes it has, for
// one model (llm.EmbeddingStore).
func (db *DB) Embeddings(ctx context.Context, model string, hashes [][sha256.Size]byte) (map[[sha256.Size]byte][]float32, error) {
	out := make(map[[sha256.Size]byte][]float32, len(hashes))
	list := make([][]byte, len(hashes))
	for i := range hashes {
		list[i] = hashes[i][:]
	}
	rows, err := db.w.Query(ctx, `SELECT text_hash, vector FROM embeddings WHERE model = $1 AND text_hash = ANY($2)`, customPlan, model, list)
	if err != nil {
		return nil, fmt.Errorf("read embeddings: %w", err)
	}
	var h, v []byte
	_, err = pgx.ForEachRow(rows, []any{&h, &v}, func() error {
		if len(h) != sha256.Size || len(v)%4 != 0 {
			return fmt.Errorf("a row of %d and %d bytes", len(h), len(v))
		}
		vec := make([]float32, len(v)/4)
		for i := range vec {
			vec[i] = math.Float32frombits(binary.LittleEndian.Uint32(v[4*i:]))
		}
		out[[sha256.Size]byte(h)] = vec
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read embeddings: %w", err)
	}
	return out, nil
}

// PutEmbeddings stores vectors by text hash for one model, in one
// transaction.
func (db *DB) PutEmbeddings(ctx context.Context, model string, vectors map[[sha256.Size]byte][]float32) error {
	b := &pgx.Batch{}
	for h, v := range vectors {
		buf := make([]byte, 0, 4*len(v))
		for _, x := range v {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
		}
		b.Queue(`INSERT INTO embeddings (model, text_hash, vector) VALUES ($1, $2, $3)
			ON CONFLICT (model, text_hash) DO UPDATE SET vector = excluded.vector`, model, h[:], buf)
	}
	err := pgx.BeginFunc(ctx, db.w, func(tx pgx.Tx) error { return tx.SendBatch(ctx, b).Close() })
	if err != nil {
		return fmt.Errorf("store embeddings: %w", err)
	}
	return nil
}
