/*
Copyright 2026.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Command nodetool does the parts of hack/e2e-node.sh that are awkward in a shell:
//
//	nodetool ports N                                    print N free TCP ports of 127.0.0.1
//	nodetool pki DIR SERVER NODE NODE-IP               write a CA, the certificates and kubeconfigs of every component
//	nodetool image -o OUT.tar -name REF [flags]         write an OCI image-layout tarball with one uncompressed layer
//
// The image command lays out a root filesystem from host files: -busybox PATH installs
// busybox at /bin/busybox with a symlink per applet, -add SRC:DST copies a file, -file
// DST=CONTENT writes one, -ca-certs PATH installs a CA bundle at
// /etc/ssl/certs/ca-certificates.crt, and -nonroot adds the user and group nonroot (65532)
// with its home, as distroless images have them, and runs the image as 65532:65532. The
// image's index.json carries the io.containerd.image.name annotation with REF normalized
// as the kubelet asks for it (controller:v1 is docker.io/library/controller:v1), so that
// `ctr -n k8s.io images import` names the image as pods name it.
package main

import (
	"archive/tar"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("usage: nodetool ports|pki|image [arguments]"))
	}
	var err error
	switch os.Args[1] {
	case "ports":
		err = ports(os.Args[2:])
	case "pki":
		err = pki(os.Args[2:])
	case "image":
		err = image(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: use ports, pki or image", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "nodetool:", err)
	os.Exit(1)
}

// ports prints N distinct free ports, holding all listeners open until every port is chosen.
func ports(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: nodetool ports N")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 {
		return fmt.Errorf("the number of ports must be positive, not %q", args[0])
	}
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("finding a free port: %w", err)
		}
		defer func() { _ = l.Close() }()
		out = append(out, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	fmt.Println(strings.Join(out, " "))
	return nil
}

type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// identity is a client or serving certificate to issue, and the kubeconfig that uses it.
type identity struct {
	file       string
	cn         string
	orgs       []string
	client     bool
	serving    bool
	kubeconfig bool
}

// pki writes ca.crt/ca.key, sa.key/sa.pub, one certificate per identity and the kubeconfigs.
func pki(args []string) error {
	if len(args) != 4 {
		return errors.New("usage: nodetool pki DIR SERVER NODE NODE-IP")
	}
	dir, server, node, nodeIP := args[0], args[1], args[2], args[3]
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	ca, err := newCA()
	if err != nil {
		return err
	}
	if err := writePair(dir, "ca", ca); err != nil {
		return err
	}
	sa, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	if err := writeKey(filepath.Join(dir, "sa.key"), sa); err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	if err != nil {
		return err
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	if err := os.WriteFile(filepath.Join(dir, "sa.pub"), pubPEM, 0o600); err != nil {
		return err
	}
	hosts := []string{"localhost", "127.0.0.1", node, nodeIP, "10.96.0.1", "kubernetes", "kubernetes.default",
		"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	ids := []identity{
		{file: "apiserver", cn: "kube-apiserver", serving: true},
		{file: "kubelet-serving", cn: node, serving: true},
		{file: "apiserver-kubelet-client", cn: "kube-apiserver-kubelet-client", orgs: []string{"system:masters"},
			client: true},
		{file: "admin", cn: "kubernetes-admin", orgs: []string{"system:masters"}, client: true, kubeconfig: true},
		{file: "kubelet", cn: "system:node:" + node, orgs: []string{"system:nodes"}, client: true, kubeconfig: true},
		{file: "scheduler", cn: "system:kube-scheduler", client: true, kubeconfig: true},
		{file: "controller-manager", cn: "system:kube-controller-manager", client: true, kubeconfig: true},
		{file: "kube-proxy", cn: "system:kube-proxy", client: true, kubeconfig: true},
	}
	for _, id := range ids {
		kp, err := issue(ca, id, hosts)
		if err != nil {
			return fmt.Errorf("issuing %s: %w", id.file, err)
		}
		if err := writePair(dir, id.file, kp); err != nil {
			return err
		}
		if id.kubeconfig {
			if err := writeKubeconfig(dir, id.file, server); err != nil {
				return err
			}
		}
	}
	return nil
}

func newCA() (keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return keyPair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ephemeraljob-e2e-node-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return keyPair{}, err
	}
	cert, err := x509.ParseCertificate(der)
	return keyPair{cert: cert, key: key}, err
}

func issue(ca keyPair, id identity, hosts []string) (keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return keyPair{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return keyPair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: id.cn, Organization: id.orgs},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if id.client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	if id.serving {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		for _, h := range hosts {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return keyPair{}, err
	}
	cert, err := x509.ParseCertificate(der)
	return keyPair{cert: cert, key: key}, err
}

func writePair(dir, name string, kp keyPair) error {
	crt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kp.cert.Raw})
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), crt, 0o600); err != nil {
		return err
	}
	return writeKey(filepath.Join(dir, name+".key"), kp.key)
}

func writeKey(file string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

func writeKubeconfig(dir, name, server string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e-node"] = &clientcmdapi.Cluster{Server: server, CertificateAuthority: filepath.Join(dir, "ca.crt")}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{
		ClientCertificate: filepath.Join(dir, name+".crt"),
		ClientKey:         filepath.Join(dir, name+".key"),
	}
	cfg.Contexts["e2e-node"] = &clientcmdapi.Context{Cluster: "e2e-node", AuthInfo: name, Namespace: "default"}
	cfg.CurrentContext = "e2e-node"
	return clientcmd.WriteToFile(*cfg, filepath.Join(dir, name+".kubeconfig"))
}

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// entry is one file, directory or symlink of the image's layer.
type entry struct {
	mode     int64
	data     []byte
	link     string
	typeflg  byte
	uid, gid int
}

// nonrootUID is the user and group distroless images name nonroot.
const nonrootUID = 65532

func image(args []string) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	out := fs.String("o", "", "the tarball to write")
	name := fs.String("name", "", "the image reference, e.g. docker.io/library/busybox:latest")
	busybox := fs.String("busybox", "", "a static busybox binary to install at /bin/busybox with its applets")
	entrypoint := fs.String("entrypoint", "", "the entrypoint as a JSON array")
	cmd := fs.String("cmd", "", "the command as a JSON array")
	caCerts := fs.String("ca-certs", "", "a CA bundle to install at /etc/ssl/certs/ca-certificates.crt")
	nonroot := fs.Bool("nonroot", false, "add the user and group nonroot (65532) and run as 65532:65532")
	var adds, files listFlag
	fs.Var(&adds, "add", "SRC:DST copies a host file into the image (repeatable)")
	fs.Var(&files, "file", "DST=CONTENT writes a file into the image (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *name == "" {
		return errors.New("image: -o and -name are required")
	}
	entries := map[string]entry{}
	dirs := []string{"bin", "dev", "etc", "proc", "sys", "usr", "usr/bin", "usr/local", "usr/local/bin", "var", "root"}
	for _, d := range dirs {
		entries[d] = entry{typeflg: tar.TypeDir, mode: 0o755}
	}
	entries["tmp"] = entry{typeflg: tar.TypeDir, mode: 0o1777}
	passwd, group, user := "root:x:0:0:root:/root:/bin/sh\n", "root:x:0:\n", ""
	if *nonroot {
		passwd += fmt.Sprintf("nonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", nonrootUID, nonrootUID)
		group += fmt.Sprintf("nonroot:x:%d:\n", nonrootUID)
		entries["home"] = entry{typeflg: tar.TypeDir, mode: 0o755}
		entries["home/nonroot"] = entry{typeflg: tar.TypeDir, mode: 0o700, uid: nonrootUID, gid: nonrootUID}
		user = fmt.Sprintf("%d:%d", nonrootUID, nonrootUID)
	}
	entries["etc/passwd"] = entry{typeflg: tar.TypeReg, mode: 0o644, data: []byte(passwd)}
	entries["etc/group"] = entry{typeflg: tar.TypeReg, mode: 0o644, data: []byte(group)}
	if *caCerts != "" {
		data, err := os.ReadFile(*caCerts)
		if err != nil {
			return fmt.Errorf("-ca-certs: %w", err)
		}
		addParents(entries, "etc/ssl/certs/ca-certificates.crt")
		entries["etc/ssl/certs/ca-certificates.crt"] = entry{typeflg: tar.TypeReg, mode: 0o644, data: data}
	}
	if *busybox != "" {
		data, err := os.ReadFile(*busybox)
		if err != nil {
			return fmt.Errorf("-busybox: %w", err)
		}
		entries["bin/busybox"] = entry{typeflg: tar.TypeReg, mode: 0o755, data: data}
		list, err := exec.Command(*busybox, "--list").Output()
		if err != nil {
			return fmt.Errorf("-busybox: listing applets: %w", err)
		}
		for _, applet := range strings.Fields(string(list)) {
			if applet != "busybox" && !strings.Contains(applet, "/") {
				entries["bin/"+applet] = entry{typeflg: tar.TypeSymlink, link: "busybox"}
			}
		}
	}
	for _, a := range adds {
		src, dst, ok := strings.Cut(a, ":")
		if !ok || dst == "" {
			return fmt.Errorf("-add %q: want SRC:DST", a)
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("-add: %w", err)
		}
		addParents(entries, dst)
		entries[strings.TrimPrefix(path.Clean(dst), "/")] = entry{typeflg: tar.TypeReg, mode: 0o755, data: data}
	}
	for _, f := range files {
		dst, content, ok := strings.Cut(f, "=")
		if !ok || dst == "" {
			return fmt.Errorf("-file %q: want DST=CONTENT", f)
		}
		addParents(entries, dst)
		entries[strings.TrimPrefix(path.Clean(dst), "/")] = entry{typeflg: tar.TypeReg, mode: 0o644, data: []byte(content)}
	}
	var ep, cm []string
	if *entrypoint != "" {
		if err := json.Unmarshal([]byte(*entrypoint), &ep); err != nil {
			return fmt.Errorf("-entrypoint must be a JSON array of strings: %w", err)
		}
	}
	if *cmd != "" {
		if err := json.Unmarshal([]byte(*cmd), &cm); err != nil {
			return fmt.Errorf("-cmd must be a JSON array of strings: %w", err)
		}
	}
	layer, err := layerTar(entries)
	if err != nil {
		return err
	}
	ref, err := normalizeRef(*name)
	if err != nil {
		return err
	}
	return writeLayout(*out, ref, layer, imageConfig{entrypoint: ep, cmd: cm, user: user})
}

// normalizeRef spells an image reference the way the kubelet asks containerd for it: with
// a registry (docker.io when the first component names none), library/ for docker.io's
// one-component names, and the tag latest when there is neither tag nor digest.
func normalizeRef(ref string) (string, error) {
	if ref == "" || strings.ContainsAny(ref, " \t\n") || strings.HasSuffix(ref, ":") || strings.HasSuffix(ref, "/") {
		return "", fmt.Errorf("-name %q is not an image reference", ref)
	}
	first, rest, hasSlash := strings.Cut(ref, "/")
	if !hasSlash || (!strings.ContainsAny(first, ".:") && first != "localhost") {
		if !hasSlash {
			ref = "library/" + ref
		}
		ref = "docker.io/" + ref
	} else if first == "docker.io" && !strings.Contains(rest, "/") {
		ref = "docker.io/library/" + rest
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	if !strings.Contains(last, ":") && !strings.Contains(last, "@") {
		ref += ":latest"
	}
	return ref, nil
}

func addParents(entries map[string]entry, dst string) {
	for d := path.Dir(strings.TrimPrefix(path.Clean(dst), "/")); d != "." && d != "/"; d = path.Dir(d) {
		if _, ok := entries[d]; !ok {
			entries[d] = entry{typeflg: tar.TypeDir, mode: 0o755}
		}
	}
}

func layerTar(entries map[string]entry) ([]byte, error) {
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names) // parents sort before their children
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	for _, n := range names {
		e := entries[n]
		h := &tar.Header{Name: n, Typeflag: e.typeflg, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: epoch,
			Format: tar.FormatPAX}
		switch e.typeflg {
		case tar.TypeDir:
			h.Name += "/"
		case tar.TypeSymlink:
			h.Linkname, h.Mode = e.link, 0o777
		case tar.TypeReg:
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if e.typeflg == tar.TypeReg {
			if _, err := tw.Write(e.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// imageConfig is what the image's config says about running it.
type imageConfig struct {
	entrypoint, cmd []string
	user            string // "" runs as root
}

// writeLayout writes the OCI image layout (oci-layout, index.json, blobs) as a tarball.
func writeLayout(out, name string, layer []byte, ic imageConfig) error {
	runConfig := map[string]any{
		"Env":        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		"Entrypoint": ic.entrypoint,
		"Cmd":        ic.cmd,
		"WorkingDir": "/",
	}
	if ic.user != "" {
		runConfig["User"] = ic.user
	}
	config, err := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config":       runConfig,
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{digestOf(layer)}},
	})
	if err != nil {
		return err
	}
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config": descriptor{MediaType: "application/vnd.oci.image.config.v1+json", Digest: digestOf(config),
			Size: int64(len(config))},
		"layers": []descriptor{{MediaType: "application/vnd.oci.image.layer.v1.tar", Digest: digestOf(layer),
			Size: int64(len(layer))}},
	})
	if err != nil {
		return err
	}
	tag := name[strings.LastIndex(name, ":")+1:]
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests": []descriptor{{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: digestOf(manifest),
			Size: int64(len(manifest)), Annotations: map[string]string{
				"io.containerd.image.name":          name,
				"org.opencontainers.image.ref.name": tag,
			}}},
	})
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	files := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{"blobs/sha256/" + strings.TrimPrefix(digestOf(config), "sha256:"), config},
		{"blobs/sha256/" + strings.TrimPrefix(digestOf(manifest), "sha256:"), manifest},
		{"blobs/sha256/" + strings.TrimPrefix(digestOf(layer), "sha256:"), layer},
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
			return err
		}
	}
	for _, e := range files {
		h := &tar.Header{Name: e.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(e.data))}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
