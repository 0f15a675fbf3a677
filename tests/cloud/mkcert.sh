#!/bin/sh
# mkcert.sh OUTDIR - throwaway TLS material for the stand-in Cloud server.
#
# Writes into OUTDIR (created if missing):
#   ca.pem, ca.key            a test CA, made now, valid 2 days
#   server.pem, server.key    a server certificate from that CA for
#                             127.0.0.1 and localhost
#   other-ca.pem              an unrelated CA ("wrong CA" tests)
# Uses only the openssl command; EC P-256 keys (fast).  Nothing is installed
# anywhere: point the client at ca.pem (atlas { cloud { ca_file } }).
set -eu
out=${1:?usage: mkcert.sh OUTDIR}
mkdir -p "$out"
cd "$out"
umask 077
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

key ca.key
openssl req -x509 -new -key ca.key -out ca.pem -days 2 -subj "/CN=atlas_migrate test CA" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

key server.key
openssl req -new -key server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
cat >server.ext <<EXT
subjectAltName=IP:127.0.0.1,DNS:localhost
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
EXT
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem \
	-days 2 -extfile server.ext 2>/dev/null

key other-ca.key
openssl req -x509 -new -key other-ca.key -out other-ca.pem -days 2 -subj "/CN=unrelated test CA" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
rm -f server.csr server.ext ca.srl other-ca.key
chmod 644 ca.pem server.pem other-ca.pem
