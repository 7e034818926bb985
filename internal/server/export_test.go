package server_test

import (
	"crypto/sha256"
	"encoding/hex"
)

func sha(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
