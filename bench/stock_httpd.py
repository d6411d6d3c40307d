"""The benchmarks' ceiling: a separate, stock httpd (Debian's mpm_event.conf and apache2.conf
defaults, access log on) serving files from its own document root on 127.0.0.1."""
import os
import subprocess
import time
import urllib.error
import urllib.request

from stack import read_pid, wait_pid_gone

CONF = """# A stock httpd: Debian's mpm_event.conf and apache2.conf defaults, serving files.
ServerRoot "{dir}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{dir}/httpd.pid"
ErrorLog "{dir}/error.log"
LogLevel warn
LogFormat "%h %l %u %t \\"%r\\" %>s %O \\"%{{Referer}}i\\" \\"%{{User-Agent}}i\\"" combined
CustomLog "{dir}/access.log" combined
{user}
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
StartServers 2
MinSpareThreads 25
MaxSpareThreads 75
ThreadLimit 64
ThreadsPerChild 25
MaxRequestWorkers 150
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 100
KeepAliveTimeout 5
Timeout 300
TypesConfig /etc/mime.types
{types}
DocumentRoot "{dir}/htdocs"
<Directory />
    Require all denied
</Directory>
<Directory "{dir}/htdocs">
    Require all granted
</Directory>
"""


class StockHttpd:
    def __init__(self, rundir, port, types):
        """types: AddType lines for the files it serves."""
        self.dir = os.path.join(rundir, "stock")
        self.htdocs = os.path.join(self.dir, "htdocs")
        self.port = port
        os.makedirs(self.htdocs)
        with open(os.path.join(self.dir, "httpd.conf"), "w") as f:
            f.write(CONF.format(dir=self.dir, port=port, types=types,
                                user="User www-data\nGroup www-data" if os.geteuid() == 0 else ""))

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def start(self):
        for root, _, files in os.walk(self.dir):
            os.chmod(root, 0o755)
            for name in files:
                os.chmod(os.path.join(root, name), 0o644)
        subprocess.run(["/usr/sbin/apache2", "-f", self.dir + "/httpd.conf", "-k", "start"], check=True)
        for _ in range(100):
            try:
                urllib.request.urlopen(self.url("/"), timeout=1)
                return
            except urllib.error.HTTPError:
                return          # up: the root has no file
            except OSError:
                time.sleep(0.1)

    def stop(self):
        pid = read_pid(self.dir + "/httpd.pid")
        if pid:
            subprocess.run(["/usr/sbin/apache2", "-f", self.dir + "/httpd.conf", "-k", "stop"], capture_output=True)
            wait_pid_gone(pid, 30)
