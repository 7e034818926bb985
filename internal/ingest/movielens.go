package ingest

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tailorhq/tailor"
)

// The movielens format reads a MovieLens folder: ml-100k (u.item, u.user,
// u.data; u.genre for genre names) or ml-latest-small (movies.csv,
// ratings.csv). Ratings become rating events whose value is the rating;
// movies become items with their genres as categories; ml-100k's users keep
// age, gender, occupation and zip code as attributes. Event ids are
// "ml-USER-ITEM-UNIXSECONDS", so importing twice stores the ratings once.
var movieLensFiles = map[string]bool{
	"u.item": true, "u.user": true, "u.data": true, "u.genre": true,
	"movies.csv": true, "ratings.csv": true,
}

// ml100kGenres are the genre names in u.genre order, used when u.genre is
// missing.
var ml100kGenres = []string{"unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
	"Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
	"Thriller", "War", "Western"}

func importMovieLens(ctx context.Context, in *input, dir string, s *Sink) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: the movielens format takes a folder (ml-100k or ml-latest-small), not a file", dir)
	}
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(dir, name))
		return err == nil
	}
	each := func(name string, fn func(io.Reader, string) error) error {
		path := filepath.Join(dir, name)
		f, err := in.open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		return fn(f, path)
	}
	switch {
	case exists("u.data"):
		genres := ml100kGenres
		if exists("u.genre") {
			if err := each("u.genre", func(r io.Reader, _ string) (err error) {
				genres, err = parseML100KGenres(r)
				return err
			}); err != nil {
				return fmt.Errorf("%s: %w", filepath.Join(dir, "u.genre"), err)
			}
		}
		if exists("u.item") {
			if err := each("u.item", func(r io.Reader, name string) error { return parseML100KItems(ctx, r, name, genres, s) }); err != nil {
				return err
			}
		}
		if exists("u.user") {
			if err := each("u.user", func(r io.Reader, name string) error { return parseML100KUsers(ctx, r, name, s) }); err != nil {
				return err
			}
		}
		return each("u.data", func(r io.Reader, name string) error { return parseML100KRatings(ctx, r, name, s) })
	case exists("ratings.csv"):
		if exists("movies.csv") {
			if err := each("movies.csv", func(r io.Reader, name string) error { return parseMLMovies(ctx, r, name, s) }); err != nil {
				return err
			}
		}
		return each("ratings.csv", func(r io.Reader, name string) error { return parseMLRatings(ctx, r, name, s) })
	}
	return fmt.Errorf("%s: not a MovieLens folder: expected u.data (ml-100k) or ratings.csv (ml-latest-small)", dir)
}

// latin1 converts ISO-8859-1 bytes to UTF-8 when they are not UTF-8 already.
func latin1(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// eachLine calls fn with every non-blank line of r, split on sep, and
// with its 1-based number.
func eachLine(r io.Reader, sep string, fn func(line int, fields []string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimRight(latin1(sc.Bytes()), "\r")
		if strings.TrimSpace(text) == "" {
			continue
		}
		if err := fn(line, strings.Split(text, sep)); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("line %d: longer than %d bytes", line+1, maxLineBytes)
		}
		return err
	}
	return nil
}

func parseML100KGenres(r io.Reader) ([]string, error) {
	var genres []string
	err := eachLine(r, "|", func(line int, f []string) error {
		if len(f) != 2 {
			return fmt.Errorf("line %d: expected name|index", line)
		}
		i, err := strconv.Atoi(f[1])
		if err != nil || i != len(genres) {
			return fmt.Errorf("line %d: genre index %q out of order", line, f[1])
		}
		genres = append(genres, f[0])
		return nil
	})
	return genres, err
}

func parseML100KItems(ctx context.Context, r io.Reader, name string, genres []string, s *Sink) error {
	return eachLine(r, "|", func(line int, f []string) error {
		loc := Loc{File: name, Line: line}
		if len(f) != 5+len(genres) {
			s.Reject(loc, "ragged_row", "", fmt.Sprintf("has %d fields, expected %d", len(f), 5+len(genres)))
			return nil
		}
		it := tailor.Item{ID: tailor.ItemID(f[0]), Title: strings.TrimSpace(f[1])}
		if _, err := strconv.Atoi(f[0]); err != nil {
			s.Reject(loc, "invalid_id", "movie_id", fmt.Sprintf("%q is not a number", truncate(f[0], 32)))
			return nil
		}
		for g, flag := range f[5:] {
			switch flag {
			case "1":
				it.Categories = append(it.Categories, genres[g])
			case "0":
			default:
				s.Reject(loc, "invalid_categories", genres[g], fmt.Sprintf("genre flag %q is not 0 or 1", truncate(flag, 8)))
				return nil
			}
		}
		attrs := map[string]any{}
		if f[2] != "" {
			if d, err := time.Parse("2-Jan-2006", f[2]); err == nil {
				attrs["release_date"] = d.Format(time.DateOnly)
			} else {
				s.Reject(loc, "invalid_release_date", "release_date", fmt.Sprintf("%q is not a date like 01-Jan-1995", truncate(f[2], 32)))
				return nil
			}
		}
		if f[4] != "" {
			attrs["imdb_url"] = f[4]
		}
		if len(attrs) > 0 {
			it.Attributes = attrs
		}
		return s.Item(loc, it)
	})
}

func parseML100KUsers(ctx context.Context, r io.Reader, name string, s *Sink) error {
	return eachLine(r, "|", func(line int, f []string) error {
		loc := Loc{File: name, Line: line}
		if len(f) != 5 {
			s.Reject(loc, "ragged_row", "", fmt.Sprintf("has %d fields, expected 5", len(f)))
			return nil
		}
		age, err := strconv.Atoi(f[1])
		if err != nil || age < 0 || age > 150 {
			s.Reject(loc, "invalid_age", "age", fmt.Sprintf("%q is not an age", truncate(f[1], 16)))
			return nil
		}
		return s.User(loc, tailor.User{ID: tailor.UserID(f[0]), Attributes: map[string]any{
			"age": float64(age), "gender": f[2], "occupation": f[3], "zip_code": f[4],
		}})
	})
}

// rating builds a rating event; it returns a field and reason on error.
func rating(user, item, value, ts string) (tailor.Event, string, string) {
	var e tailor.Event
	if _, err := strconv.ParseInt(user, 10, 64); err != nil {
		return e, "user_id", fmt.Sprintf("%q is not a number", truncate(user, 32))
	}
	if _, err := strconv.ParseInt(item, 10, 64); err != nil {
		return e, "item_id", fmt.Sprintf("%q is not a number", truncate(item, 32))
	}
	v, err := strconv.ParseFloat(value, 64)
	if err != nil || v <= 0 || v > 10 {
		return e, "rating", fmt.Sprintf("%q is not a rating", truncate(value, 16))
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return e, "timestamp", fmt.Sprintf("%q is not Unix seconds", truncate(ts, 32))
	}
	return tailor.Event{
		ID: "ml-" + user + "-" + item + "-" + ts, UserID: tailor.UserID(user), ItemID: tailor.ItemID(item),
		Type: tailor.Rating, Value: &v, Timestamp: time.Unix(secs, 0).UTC(),
	}, "", ""
}

func parseML100KRatings(ctx context.Context, r io.Reader, name string, s *Sink) error {
	return eachLine(r, "\t", func(line int, f []string) error {
		loc := Loc{File: name, Line: line}
		if len(f) != 4 {
			s.Reject(loc, "ragged_row", "", fmt.Sprintf("has %d fields, expected user, item, rating, timestamp", len(f)))
			return nil
		}
		e, field, reason := rating(f[0], f[1], f[2], f[3])
		if field != "" {
			s.Reject(loc, "invalid_"+field, field, reason)
			return nil
		}
		_, err := s.Event(loc, e)
		return err
	})
}

// readMLCSV reads a MovieLens CSV file with the given header, calling fn for
// each record.
func readMLCSV(r io.Reader, name string, header []string, s *Sink, fn func(loc Loc, rec []string) error) error {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	got, err := cr.Read()
	if err != nil {
		return fmt.Errorf("%s:1: wrong header: %v", name, err)
	}
	if len(got) > 0 {
		got[0] = strings.TrimPrefix(got[0], "\ufeff")
	}
	if strings.Join(got, ",") != strings.Join(header, ",") {
		return fmt.Errorf("%s:1: wrong header: got %q, expected %q", name, strings.Join(got, ","), strings.Join(header, ","))
	}
	cr.FieldsPerRecord = len(header)
	return eachRecord(cr, name, s, func(line int, rec []string) error {
		return fn(Loc{File: name, Line: line}, rec)
	})
}

func parseMLMovies(ctx context.Context, r io.Reader, name string, s *Sink) error {
	return readMLCSV(r, name, []string{"movieId", "title", "genres"}, s, func(loc Loc, rec []string) error {
		if _, err := strconv.ParseInt(rec[0], 10, 64); err != nil {
			s.Reject(loc, "invalid_id", "movieId", fmt.Sprintf("%q is not a number", truncate(rec[0], 32)))
			return nil
		}
		it := tailor.Item{ID: tailor.ItemID(rec[0]), Title: strings.TrimSpace(rec[1])}
		if rec[2] != "" && rec[2] != "(no genres listed)" {
			it.Categories = strings.Split(rec[2], "|")
		}
		return s.Item(loc, it)
	})
}

func parseMLRatings(ctx context.Context, r io.Reader, name string, s *Sink) error {
	first := map[tailor.UserID]time.Time{}
	err := readMLCSV(r, name, []string{"userId", "movieId", "rating", "timestamp"}, s, func(loc Loc, rec []string) error {
		e, field, reason := rating(rec[0], rec[1], rec[2], rec[3])
		if field != "" {
			s.Reject(loc, "invalid_"+field, field, reason)
			return nil
		}
		ok, err := s.Event(loc, e)
		if ok {
			if t, seen := first[e.UserID]; !seen || e.Timestamp.Before(t) {
				first[e.UserID] = e.Timestamp
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	// ml-latest-small has no users file: users are those who rated, and
	// joined with their first rating.
	for id, t := range first {
		if err := s.DeriveUser(tailor.User{ID: id, CreatedAt: t}); err != nil {
			return err
		}
	}
	s.Transformed("users_derived_from_ratings", len(first))
	return nil
}
