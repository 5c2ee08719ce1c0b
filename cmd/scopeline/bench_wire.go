package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// wireClient is the load generator's HTTP/1.1 client for http:// targets,
// as wrk's and h2load's are: one kept-alive connection per worker, the
// request's bytes prepared once and written with one call, the answer
// parsed in place (status line, the headers that frame the body, and the
// body, by Content-Length, chunked or up to the end of the connection).
// net/http's transport costs the generator 65–80 µs of CPU per request on
// the reference machine, CPU the server it measures does not get; this
// costs a fraction of it (BenchmarkLoadWorker). https:// targets use the
// transport.
type wireClient struct {
	addr    string
	request []byte
	conn    net.Conn
	r       *bufio.Reader
}

// wireMaxBody bounds an answer's body.
const wireMaxBody = 1 << 20

// errStale is a kept-alive connection the server closed while it was
// idle: the request is sent again on a new one, as net/http's transport
// does.
var errStale = errors.New("connection closed before an answer")

// newWireClient prepares target's request for the wire, or returns nil
// when target is not plain http.
func newWireClient(target tokenTarget) (*wireClient, error) {
	u, err := url.Parse(target.url)
	if err != nil {
		return nil, fmt.Errorf("bench: --url %q: %w", target.url, err)
	}
	if u.Scheme != "http" {
		return nil, nil
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: scopeline-bench\r\n", u.RequestURI(), u.Host)
	names := make([]string, 0, len(target.header))
	for name := range target.header {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, v := range target.header[name] {
			fmt.Fprintf(&b, "%s: %s\r\n", name, v)
		}
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(target.body))
	b.Write(target.body)
	return &wireClient{addr: addr, request: b.Bytes()}, nil
}

// roundTrip sends the request and reads the answer's body into buf.
func (c *wireClient) roundTrip(buf []byte) (status int, body []byte, err error) {
	reused := c.conn != nil
	status, body, err = c.try(buf)
	if reused && errors.Is(err, errStale) {
		status, body, err = c.try(buf)
	}
	return status, body, err
}

func (c *wireClient) try(buf []byte) (int, []byte, error) {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.addr, 10*time.Second)
		if err != nil {
			return 0, buf, err
		}
		c.conn = conn
		if c.r == nil {
			c.r = bufio.NewReaderSize(conn, 8<<10)
		} else {
			c.r.Reset(conn)
		}
	}
	if _, err := c.conn.Write(c.request); err != nil {
		c.close()
		return 0, buf, fmt.Errorf("%w: %w", errStale, err)
	}
	status, keep, body, err := readWireResponse(c.r, buf)
	if err != nil || !keep {
		c.close()
	}
	return status, body, err
}

func (c *wireClient) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// readWireResponse reads one HTTP/1.x response from r, its body appended
// to buf[:0], skipping interim (1xx) responses. keep says whether the
// connection may carry another request.
func readWireResponse(r *bufio.Reader, buf []byte) (status int, keep bool, body []byte, err error) {
	body = buf[:0]
	first := true
	length, chunked := int64(-1), false
	for {
		line, err := readWireLine(r)
		if err != nil {
			if first && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)) {
				err = fmt.Errorf("%w: %w", errStale, err)
			}
			return 0, false, body, err
		}
		first = false
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
			return 0, false, body, fmt.Errorf("malformed status line %.80q", line)
		}
		status, err = strconv.Atoi(string(line[9:12]))
		if err != nil || status < 100 {
			return 0, false, body, fmt.Errorf("malformed status line %.80q", line)
		}
		http11 := line[7] == '1' // line is the reader's: read it before the next line
		keep = http11
		length, chunked = -1, false
		for {
			h, err := readWireLine(r)
			if err != nil {
				return status, false, body, err
			}
			if len(h) == 0 {
				break
			}
			name, value, ok := bytes.Cut(h, []byte(":"))
			if !ok {
				return status, false, body, fmt.Errorf("malformed header line %.80q", h)
			}
			value = bytes.TrimSpace(value)
			switch {
			case bytes.EqualFold(name, []byte("Content-Length")):
				n, err := strconv.ParseInt(string(value), 10, 64)
				if err != nil || n < 0 {
					return status, false, body, fmt.Errorf("malformed Content-Length %.40q", value)
				}
				length = n
			case bytes.EqualFold(name, []byte("Transfer-Encoding")):
				// HTTP/1.0 has no chunked coding: the body runs to the end.
				chunked = http11 && bytes.Contains(bytes.ToLower(value), []byte("chunked"))
			case bytes.EqualFold(name, []byte("Connection")):
				if v := bytes.ToLower(value); bytes.Contains(v, []byte("close")) {
					keep = false
				} else if bytes.Contains(v, []byte("keep-alive")) {
					keep = true
				}
			}
		}
		if status >= 200 || status == 101 {
			break
		}
	}
	switch {
	case status == 204 || status == 304 || status == 101:
		return status, keep && status != 101, body, nil
	case chunked:
		body, err = readWireChunked(r, body)
	case length > wireMaxBody:
		return status, false, body, fmt.Errorf("answer of %d bytes, more than %d", length, wireMaxBody)
	case length >= 0:
		body, err = readWireN(r, body, int(length))
	default: // the body ends with the connection
		keep = false
		body, err = readWireN(r, body, wireMaxBody+1)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = nil
		} else if err == nil {
			err = fmt.Errorf("answer of more than %d bytes", wireMaxBody)
		}
	}
	if err != nil {
		return status, false, body, err
	}
	return status, keep, body, nil
}

// readWireChunked reads a chunked body (RFC 9112 §7.1) and its trailers.
func readWireChunked(r *bufio.Reader, body []byte) ([]byte, error) {
	for {
		line, err := readWireLine(r)
		if err != nil {
			return body, err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || size < 0 {
			return body, fmt.Errorf("malformed chunk size %.40q", line)
		}
		if size == 0 {
			for { // trailers, up to the empty line
				t, err := readWireLine(r)
				if err != nil {
					return body, err
				}
				if len(t) == 0 {
					return body, nil
				}
			}
		}
		if int64(len(body))+size > wireMaxBody {
			return body, fmt.Errorf("answer of more than %d bytes", wireMaxBody)
		}
		if body, err = readWireN(r, body, int(size)); err != nil {
			return body, err
		}
		if end, err := readWireLine(r); err != nil || len(end) != 0 {
			return body, fmt.Errorf("chunk not followed by CRLF (%v)", err)
		}
	}
}

// readWireN appends n bytes of r to body (io.ErrUnexpectedEOF if the
// connection ends first, with what came).
func readWireN(r *bufio.Reader, body []byte, n int) ([]byte, error) {
	start := len(body)
	body = slices.Grow(body, n)[:start+n]
	got, err := io.ReadFull(r, body[start:])
	return body[:start+got], err
}

// readWireLine reads a line without its CRLF (or LF). A line longer than
// the reader's buffer is an error.
func readWireLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, io.EOF) && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}
