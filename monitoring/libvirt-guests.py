#!/usr/bin/env python3
"""Turn libvirt domain XML into `keel monitor`'s [[guest]] tables, so that
libvirt stays out of keel's binary.

    virsh list --name | xargs -n1 virsh dumpxml | libvirt-guests.py - > /etc/keel/monitor.d/guests.toml
    libvirt-guests.py dom1.xml dom2.xml

For each domain: a virtio-serial channel named org.keel.time.0 (or --port
NAME) with a unix source becomes `unix:PATH`; else a <vsock> device with a
CID becomes `vsock:CID:PORT` (--vsock-port, default 1123). A domain with
neither is listed in a comment, so nothing is dropped silently. Several
domains may follow each other in one input (as `virsh dumpxml` of each).
"""
import argparse
import re
import sys
import xml.etree.ElementTree as ET


def domains(text):
    """Each <domain>...</domain> in text."""
    return re.findall(r"<domain\b.*?</domain>", text, flags=re.S)


def guest(xml, port_name, vsock_port):
    root = ET.fromstring(xml)
    name = root.findtext("name") or "?"
    for ch in root.iter("channel"):
        target = ch.find("target")
        source = ch.find("source")
        if (ch.get("type") == "unix" and target is not None and source is not None
                and target.get("type") == "virtio" and target.get("name") == port_name
                and source.get("path")):
            return name, "unix:" + source.get("path"), None
    for v in root.iter("vsock"):
        cid = v.find("cid")
        if cid is not None and (cid.get("address") or "").isdigit():
            return name, "vsock:%s:%d" % (cid.get("address"), vsock_port), None
    return name, None, "no virtio-serial port %s and no vsock CID" % port_name


def toml_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="*", default=["-"], help="domain XML files ('-': stdin)")
    p.add_argument("--port", default="org.keel.time.0", help="the virtio-serial port name")
    p.add_argument("--vsock-port", type=int, default=1123, help="keel's vsock port in the guests")
    a = p.parse_args(argv)
    out = ["# keel monitor guests from libvirt domain XML (libvirt-guests.py)"]
    for f in a.files:
        text = sys.stdin.read() if f == "-" else open(f, encoding="utf-8").read()
        for d in domains(text):
            try:
                name, channel, why = guest(d, a.port, a.vsock_port)
            except ET.ParseError as e:
                print("libvirt-guests.py: %s: not domain XML: %s" % (f, e), file=sys.stderr)
                return 1
            if channel is None:
                out.append("# %s: %s" % (name, why))
            else:
                out += ["", "[[guest]]", "name = " + toml_string(name), "channel = " + toml_string(channel)]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
