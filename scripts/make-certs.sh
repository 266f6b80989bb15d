#!/usr/bin/env bash
# Makes the test PKI in DIR (default build-test/pki): a CA, a server certificate for
# 127.0.0.1 / ::1 / localhost, a client certificate (mTLS), and the broken ones the HTTP
# tests need (wrong host name, expired, self-signed). Idempotent: keeps an existing set.
set -euo pipefail
dir=${1:-$(dirname "$0")/../build-test/pki}
mkdir -p "$dir"
cd "$dir"
[ -f done ] && exit 0

days=3650
ossl() { openssl "$@" 2>/dev/null; }

# CA
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
    -days $days -subj "/CN=asio-oidc test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"

leaf() { # name, subjectAltName, extra x509 args...
    local name=$1 san=$2
    shift 2
    ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$name.key" \
        -out "$name.csr" -subj "/CN=$name"
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n' \
        "$san" >"$name.ext"
    ossl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$name.pem" \
        -extfile "$name.ext" "$@"
    rm -f "$name.csr" "$name.ext"
}

leaf server "IP:127.0.0.1,IP:::1,DNS:localhost" -days $days
leaf client "DNS:client.test" -days $days
leaf wrong-host "DNS:not-this-host.test" -days $days
# Expired: valid for one day, a year ago (openssl x509 has no -not_before before 3.4,
# so the CA signs with a faked clock through the ca command's -startdate/-enddate).
ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout expired.key -out expired.csr \
    -subj "/CN=expired"
mkdir -p ca-db && : >ca-db/index.txt && echo 01 >ca-db/serial
cat >ca-db/ca.cnf <<CNF
[ ca ]
default_ca = test_ca
[ test_ca ]
dir = $PWD/ca-db
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir
default_md = sha256
policy = any
copy_extensions = none
x509_extensions = ext
[ any ]
commonName = supplied
[ ext ]
subjectAltName = IP:127.0.0.1,IP:::1,DNS:localhost
basicConstraints = CA:FALSE
CNF
ossl ca -batch -config ca-db/ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr -out expired.pem \
    -startdate 20200101000000Z -enddate 20200102000000Z -notext
rm -f expired.csr
# Self-signed: not issued by the test CA.
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout self-signed.key \
    -out self-signed.pem -days $days -subj "/CN=self-signed" \
    -addext "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost"
cat server.pem ca.pem >server-chain.pem
touch done
echo "test PKI in $PWD"
