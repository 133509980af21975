#!/usr/bin/env bash
# Makes, with openssl, a certificate authority for one Count Cachula cluster and certificates it signs, for mutual TLS
# between the cluster's processes (CountCachula:Cluster:Tls; docs/security.md, "Cluster transport security (mTLS)").
#
#   scripts/cluster-certs.sh DIR [NAME...]     NAME defaults to "node"
#
# Writes into DIR:
#   ca.pem            the CA certificate every process trusts          -> CountCachula:Cluster:Tls:CaCertificatePath
#   ca.key            the CA's key: whoever holds it can make members; keep it away from the cluster (offline)
#   NAME.pem/NAME.key a certificate and its key for the processes      -> CountCachula:Cluster:Tls:CertificatePath/KeyPath
#                     (extended key usages serverAuth and clientAuth, so one serves a silo, which is both to its
#                     peers, as well as a client-only web tier)
# Files that exist are kept: run it again with another NAME to add a certificate signed by the same CA, or delete
# NAME.pem to renew one. Keys are EC P-256 and written with mode 600, certificates with 644.
# Environment (optional): DAYS (validity of the certificates, 365), CA_DAYS (of the CA, 3650), CA_SUBJECT.
set -euo pipefail
dir=${1:?usage: $0 DIR [NAME...]}
shift
names=("$@")
[ "${#names[@]}" -gt 0 ] || names=(node)
command -v openssl >/dev/null || { echo "openssl is not installed: apt-get install -y openssl" >&2; exit 1; }
mkdir -p "$dir"
umask 077
log=$(mktemp)
trap 'rm -f "$log" "$dir"/*.csr "$dir"/.ext' EXIT
fail() { echo "cluster-certs: $1" >&2; cat "$log" >&2; exit 1; }

if [ ! -e "$dir/ca.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" -days "${CA_DAYS:-3650}" -subj "${CA_SUBJECT:-/CN=Count Cachula cluster CA}" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    > "$log" 2>&1 || fail "could not make the CA"
  chmod 644 "$dir/ca.pem"
  echo "cluster-certs: made a CA in $dir/ca.pem (its key: $dir/ca.key)" >&2
fi

printf '%s\n' 'basicConstraints=critical,CA:FALSE' 'keyUsage=critical,digitalSignature' \
  'extendedKeyUsage=serverAuth,clientAuth' 'subjectKeyIdentifier=hash' 'authorityKeyIdentifier=keyid' > "$dir/.ext"
for name in "${names[@]}"; do
  [ -e "$dir/$name.pem" ] && continue
  [ -e "$dir/ca.key" ] || fail "$dir/ca.key is missing: cannot sign a certificate for $name"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$dir/$name.key" -out "$dir/$name.csr" -subj "/CN=countcachula-$name" > "$log" 2>&1 \
    || fail "could not make the key of $name"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
    -days "${DAYS:-365}" -extfile "$dir/.ext" -out "$dir/$name.pem" > "$log" 2>&1 || fail "could not sign the certificate of $name"
  chmod 644 "$dir/$name.pem"
  echo "cluster-certs: made $dir/$name.pem and $dir/$name.key, signed by $dir/ca.pem" >&2
done
