package cli

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/tailorhq/tailor/internal/config"
	"github.com/tailorhq/tailor/internal/sharedlimit"
	"github.com/tailorhq/tailor/internal/store/postgres"
)

// The deployment files cannot run here (no Docker, no Kubernetes), so this
// test reads them and checks them against the binary: every subcommand and
// flag they pass exists, every TAILOR_ variable they set is one the binary
// reads and its value has the form the binary accepts, the ports agree from
// the load balancer to the replicas, and every image but Tailor's own is
// pinned to a version.

// envRead lists the TAILOR_ variables the binary's commands read.
func envRead(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`os\.(?:Getenv|LookupEnv)\("(TAILOR_[A-Z_]+)"\)`)
	var out []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			out = append(out, m[1])
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// checkArgs checks a command line for the binary: its subcommand and each
// --flag exist. It returns the flags' values.
func checkArgs(t *testing.T, where string, args []string) map[string]string {
	t.Helper()
	root := newRoot(io.Discard, io.Discard)
	cmd, rest, err := root.Find(args)
	if err != nil || cmd == root {
		t.Errorf("%s: %v is no tailor subcommand (%v)", where, args, err)
		return nil
	}
	values := map[string]string{}
	for i := 0; i < len(rest); i++ {
		name, ok := strings.CutPrefix(rest[i], "--")
		if !ok {
			continue
		}
		name, value, hasValue := strings.Cut(name, "=")
		f := flag(cmd, name)
		if f == nil {
			t.Errorf("%s: tailor %s has no flag --%s", where, cmd.Name(), name)
			continue
		}
		if !hasValue && f.Value.Type() != "bool" && i+1 < len(rest) {
			i++
			value = rest[i]
		}
		if err := f.Value.Set(value); err != nil {
			t.Errorf("%s: --%s %q: %v", where, name, value, err)
		}
		values[name] = value
	}
	return values
}

func flag(cmd *cobra.Command, name string) *pflag.Flag {
	if f := cmd.Flags().Lookup(name); f != nil {
		return f
	}
	return cmd.InheritedFlags().Lookup(name)
}

// checkEnv checks that a variable is one the binary reads and that its
// value has the right form (variables interpolated by the compose file
// are left to its user).
func checkEnv(t *testing.T, where, name, value string, known []string) {
	t.Helper()
	if !slices.Contains(known, name) {
		t.Errorf("%s: %s is not read by the binary (it reads %v)", where, name, known)
		return
	}
	if strings.HasPrefix(value, "${") || value == "" {
		return
	}
	var err error
	switch name {
	case "TAILOR_STORE":
		if !postgres.IsURL(value) {
			t.Errorf("%s: TAILOR_STORE %q is not a postgres:// URL", where, value)
		}
	case "TAILOR_REDIS_URL":
		_, err = sharedlimit.New(sharedlimit.Options{URL: value})
	case "TAILOR_NATS_URL":
		c := config.Default()
		c.NATS.URL = value
		err = c.Validate()
	}
	if err != nil {
		t.Errorf("%s: %s %q: %v", where, name, value, err)
	}
}

func portOf(t *testing.T, where, addr string) int {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	p, err := strconv.Atoi(addr[i+1:])
	if i < 0 || err != nil {
		t.Fatalf("%s: no port in %q", where, addr)
	}
	return p
}

func pinned(t *testing.T, where, image string) {
	t.Helper()
	name, tag, ok := strings.Cut(image, ":")
	if !ok || tag == "" || tag == "latest" || name == "" {
		t.Errorf("%s: image %q is not pinned to a version", where, image)
	}
}

func TestDeployCompose(t *testing.T) {
	known := envRead(t)
	if len(known) < 5 {
		t.Fatalf("found only %v read by the binary", known)
	}
	b, err := os.ReadFile("../../deploy/docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Build       *struct {
				Context    string `yaml:"context"`
				Dockerfile string `yaml:"dockerfile"`
			} `yaml:"build"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatal(err)
	}
	var replicas []string
	ports := map[int]bool{}
	for name, s := range compose.Services {
		where := "docker-compose.yml: " + name
		if s.Build == nil {
			pinned(t, where, s.Image)
			continue
		}
		replicas = append(replicas, name)
		if _, err := os.Stat(filepath.Join("../../deploy", s.Build.Context, s.Build.Dockerfile)); err != nil {
			t.Errorf("%s: %v", where, err)
		}
		flags := checkArgs(t, where, s.Command)
		ports[portOf(t, where, flags["addr"])] = true
		for k, v := range s.Environment {
			checkEnv(t, where, k, v, known)
		}
		for _, need := range []string{"TAILOR_STORE", "TAILOR_API_KEYS", "TAILOR_NATS_URL", "TAILOR_REDIS_URL"} {
			if _, ok := s.Environment[need]; !ok {
				t.Errorf("%s: no %s", where, need)
			}
		}
	}
	slices.Sort(replicas)
	if !slices.Equal(replicas, []string{"tailor-1", "tailor-2", "tailor-3"}) {
		t.Errorf("replicas %v, want three", replicas)
	}
	for _, svc := range []string{"postgres", "redis", "nats", "lb"} {
		if _, ok := compose.Services[svc]; !ok {
			t.Errorf("no %s service", svc)
		}
	}
	// The load balancer sends to every replica on the port it listens on.
	caddy, err := os.ReadFile("../../deploy/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range replicas {
		m := regexp.MustCompile(regexp.QuoteMeta(r) + `:(\d+)`).FindStringSubmatch(string(caddy))
		if m == nil {
			t.Errorf("Caddyfile: no upstream %s", r)
			continue
		}
		if p, _ := strconv.Atoi(m[1]); !ports[p] || len(ports) != 1 {
			t.Errorf("Caddyfile: %s:%d, but the replicas listen on %v", r, p, ports)
		}
	}
	if !strings.Contains(string(caddy), "health_uri /healthz") {
		t.Error("Caddyfile: the replicas' health is not checked at /healthz")
	}
	// The image's own default command and port agree.
	docker, err := os.ReadFile("../../deploy/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	cmdLine := regexp.MustCompile(`(?m)^CMD (\[.*\])`).FindSubmatch(docker)
	var args []string
	if cmdLine == nil || yaml.Unmarshal(cmdLine[1], &args) != nil {
		t.Fatal("Dockerfile: no CMD [...]")
	}
	flags := checkArgs(t, "Dockerfile CMD", args)
	if !ports[portOf(t, "Dockerfile", flags["addr"])] || !strings.Contains(string(docker), "EXPOSE "+flags["addr"][strings.LastIndexByte(flags["addr"], ':')+1:]) {
		t.Errorf("Dockerfile: CMD listens on %s, EXPOSE or the compose file says otherwise", flags["addr"])
	}
	if !strings.Contains(string(docker), "./cmd/tailor") {
		t.Error("Dockerfile: does not build ./cmd/tailor")
	}
}

func TestDeployHelm(t *testing.T) {
	known := envRead(t)
	var values struct {
		Replicas int `yaml:"replicas"`
		Image    struct {
			Repository string `yaml:"repository"`
			Tag        string `yaml:"tag"`
		} `yaml:"image"`
		Store        string `yaml:"store"`
		RedisURL     string `yaml:"redisURL"`
		NATSURL      string `yaml:"natsURL"`
		Secret       string `yaml:"secret"`
		RetrainEvery string `yaml:"retrainEvery"`
		Port         int    `yaml:"port"`
	}
	b, err := os.ReadFile("../../deploy/helm/tailor/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	if values.Replicas < 2 || values.Secret == "" || values.Port == 0 {
		t.Errorf("values: %+v", values)
	}
	for name, v := range map[string]string{"TAILOR_STORE": values.Store, "TAILOR_REDIS_URL": values.RedisURL, "TAILOR_NATS_URL": values.NATSURL} {
		checkEnv(t, "values.yaml", name, v, known)
	}
	dep, err := os.ReadFile("../../deploy/helm/tailor/templates/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The arguments, with the values put in.
	m := regexp.MustCompile(`args: (\[.*\])`).FindSubmatch(dep)
	if m == nil {
		t.Fatal("deployment.yaml: no args")
	}
	line := strings.NewReplacer("{{ .Values.port }}", strconv.Itoa(values.Port), "{{ .Values.retrainEvery }}", values.RetrainEvery).Replace(string(m[1]))
	var args []string
	if err := yaml.Unmarshal([]byte(line), &args); err != nil {
		t.Fatalf("deployment.yaml args %s: %v", line, err)
	}
	flags := checkArgs(t, "deployment.yaml", args)
	if portOf(t, "deployment.yaml", flags["addr"]) != values.Port {
		t.Errorf("deployment.yaml: listens on %s, containerPort %d", flags["addr"], values.Port)
	}
	for _, env := range regexp.MustCompile(`name: (TAILOR_[A-Z_]+)`).FindAllStringSubmatch(string(dep), -1) {
		checkEnv(t, "deployment.yaml", env[1], "", known)
	}
	if !strings.Contains(string(dep), "path: /healthz") {
		t.Error("deployment.yaml: no probe at /healthz")
	}
	chart, err := os.ReadFile("../../deploy/helm/tailor/Chart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(chart), "appVersion: \""+Version+"\"") {
		t.Errorf("Chart.yaml: appVersion is not the binary's %s", Version)
	}
}
