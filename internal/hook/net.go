package hook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// hostPort joins a hook's host and port; the operator fills in the target's host when the
// hook names none, so an empty one here is an error.
func hostPort(action, host string, port intstr.IntOrString) (string, error) {
	if host == "" {
		return "", fmt.Errorf("%s hook has no host, and the target gives none", action)
	}
	p := port.IntValue()
	if port.Type == intstr.String {
		n, err := strconv.Atoi(port.StrVal)
		if err != nil {
			return "", fmt.Errorf("%s hook port %q is a name: the hook runs from the session's Job, not in the target's pod, so give the port number", action, port.StrVal)
		}
		p = n
	}
	if p <= 0 || p > 65535 {
		return "", fmt.Errorf("%s hook port %s is not a port number (1-65535)", action, port.String())
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), nil
}

func hookURL(action string, scheme corev1.URIScheme, host string, port intstr.IntOrString, path string) (string, error) {
	hp, err := hostPort(action, host, port)
	if err != nil {
		return "", err
	}
	s := strings.ToLower(string(scheme))
	if s == "" {
		s = "http"
	}
	if s != "http" && s != "https" {
		return "", fmt.Errorf("%s hook scheme %q is neither HTTP nor HTTPS", action, scheme)
	}
	if path != "" && !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u, err := url.Parse(s + "://" + hp + path)
	if err != nil {
		return "", fmt.Errorf("%s hook URL: %w", action, err)
	}
	return u.String(), nil
}

func runHTTPGet(ctx context.Context, s *Spec) ([]byte, error) {
	g := s.Handler.HTTPGet
	u, err := hookURL(ActionHTTPGet, g.Scheme, g.Host, g.Port, g.Path)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("httpGet hook: %w", err)
	}
	setHeaders(req, g.HTTPHeaders)
	return do(req)
}

func runHTTPPost(ctx context.Context, s *Spec) ([]byte, error) {
	p := s.Handler.HTTPPost
	u, err := hookURL(ActionHTTPPost, p.Scheme, p.Host, p.Port, p.Path)
	if err != nil {
		return nil, err
	}
	body, contentType := p.Body, ""
	if body != "" {
		if body, err = render("httpPost.body", body, s.Summary); err != nil {
			return nil, err
		}
	} else if len(p.Form) > 0 {
		form := url.Values{}
		for i, f := range p.Form {
			for j, v := range f.Values {
				rv, err := render(fmt.Sprintf("httpPost.form[%d].values[%d]", i, j), v, s.Summary)
				if err != nil {
					return nil, err
				}
				form.Add(f.Key, rv)
			}
		}
		body, contentType = form.Encode(), "application/x-www-form-urlencoded"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("httpPost hook: %w", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	setHeaders(req, p.HTTPHeaders)
	return do(req)
}

func setHeaders(req *http.Request, headers []corev1.HTTPHeader) {
	for _, h := range headers {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
}

// do sends req; status codes 200 to 399 are success. The output is the status line and the
// start of the body. Redirects are not followed: a 3xx answer is a success, as upstream
// counts it, and a hook reaches only the address it names.
func do(req *http.Request) ([]byte, error) {
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%s %s: %w", req.Method, redact(req.URL), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, MaxOutputBytes+1))
	out := []byte("HTTP " + resp.Status)
	if b := strings.TrimSpace(string(body)); b != "" {
		out = append(out, ": "...)
		out = append(out, head([]byte(b), MaxOutputBytes)...)
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return out, fmt.Errorf("%s %s answered %s (success is 200-399)", req.Method, redact(req.URL), resp.Status)
	}
	return out, nil
}

// redact names a URL without its path and query, which often carry a webhook's token (a
// Slack webhook's path is its secret).
func redact(u *url.URL) string {
	r := url.URL{Scheme: u.Scheme, Host: u.Host}
	if u.Path != "" && u.Path != "/" {
		r.Path = "/…"
	}
	return r.String()
}

// runTCP succeeds when a TCP connection to the port opens.
func runTCP(ctx context.Context, s *Spec) ([]byte, error) {
	t := s.Handler.TCPSocket
	hp, err := hostPort(ActionTCPSocket, t.Host, t.Port)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", hp)
	if err != nil {
		return nil, fmt.Errorf("tcpSocket hook: %w", err)
	}
	_ = conn.Close()
	return []byte("connected to " + hp), nil
}
