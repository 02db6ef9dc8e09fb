package datapath

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestTLS: with a CA in the target directory the addon verifies the server certificate; the
// server only accepts TLS, so a backup that succeeds used it.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCA(t, "hoard test CA")
	otherCA, _ := newCA(t, "some other CA")
	writePEM(t, filepath.Join(dir, "ca.crt"), "CERTIFICATE", ca.Raw)
	writePEM(t, filepath.Join(dir, "other-ca.crt"), "CERTIFICATE", otherCA.Raw)
	src := newTLSServer(t, dir, "good", ca, caKey, []net.IP{net.ParseIP("127.0.0.1")}, []string{"localhost"})
	// Signed by the right CA, but for another name than the address the addon connects to.
	misnamed := newTLSServer(t, dir, "misnamed", ca, caKey, nil, []string{"db.example.com"})
	mustExec(t, src, shopSQL)
	repo, _ := localRepo(t)
	sel := "--mysql-args=--databases shop"

	withFiles := func(t *testing.T, files map[string]string) string {
		target := targetDir(t, src, DBPassword)
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(target, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return target
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	otherPEM, err := os.ReadFile(filepath.Join(dir, "other-ca.crt"))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("verified with the AppBinding's CA", func(t *testing.T) {
		target := withFiles(t, map[string]string{"ca.crt": string(caPEM)})
		mustSucceed(t, backup(t, repo, target, sel))
		mustExec(t, src, "DROP DATABASE shop")
		mustSucceed(t, restore(t, repo, target))
		if got := mustExec(t, src, "SELECT COUNT(*) FROM shop.orders"); got != "3000\n" {
			t.Errorf("restored %q orders", got)
		}
	})
	t.Run("a certificate from another CA is rejected at once", func(t *testing.T) {
		run := backup(t, repo, withFiles(t, map[string]string{"ca.crt": string(otherPEM)}), sel, "--wait-timeout=120")
		mustFail(t, run, "failed to connect to the database", "ERROR 2026", "TLS/SSL error")
		if run.Duration > 30*time.Second {
			t.Errorf("took %s: a certificate error must fail at once", run.Duration)
		}
	})
	t.Run("a certificate for another host name is rejected", func(t *testing.T) {
		target := targetDir(t, misnamed, DBPassword)
		if err := os.WriteFile(filepath.Join(target, "ca.crt"), caPEM, 0o644); err != nil {
			t.Fatal(err)
		}
		mustFail(t, backup(t, repo, target, sel, "--wait-timeout=120"), "failed to connect to the database", "ERROR 2026")
	})
	t.Run("insecure-skip-tls-verify encrypts without verifying", func(t *testing.T) {
		mustSucceed(t, backup(t, repo, withFiles(t, map[string]string{"insecure-skip-tls-verify": "true"}), sel))
	})
}

// newTLSServer starts a MariaDB that accepts only TLS, with a certificate for ips and names.
func newTLSServer(t *testing.T, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, ips []net.IP, names []string) *MariaDB {
	t.Helper()
	cert, key := newServerCert(t, ca, caKey, ips, names)
	writePEM(t, filepath.Join(dir, name+".crt"), "CERTIFICATE", cert)
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, name+".key"), "EC PRIVATE KEY", keyDER)
	return newServer(t, "--ssl-ca="+filepath.Join(dir, "ca.crt"), "--ssl-cert="+filepath.Join(dir, name+".crt"),
		"--ssl-key="+filepath.Join(dir, name+".key"), "--require-secure-transport=ON")
}

func newCA(t *testing.T, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func newServerCert(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, ips []net.IP, names []string) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: ips, DNSNames: names,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}
