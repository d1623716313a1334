<?php
// tests/stack/symfony-bs.php SENDER RECIPIENT SUBJECT [COMMAND]
//
// Talks to `sendmail -bs` the way Symfony Mailer's SendmailTransport does
// when its command contains -bs (the default, "/usr/sbin/sendmail -bs"):
// the command runs under proc_open with pipes, and the SMTP client reads
// the 220 greeting, says EHLO [127.0.0.1], then for the message one
// command at a time MAIL FROM, RCPT TO, DATA (354), the message with
// leading dots doubled and CRLF line ends, "." (250), and QUIT (221) when
// the transport stops. Every reply code is checked as Symfony checks it.
//
// Prints the dialogue ("C: ..." / "S: ...") on stdout; exit 0 when every
// reply was the expected one and the command exited 0, 1 otherwise, 2 on
// a usage error.

if ($argc < 4) {
	fwrite(STDERR, "usage: symfony-bs.php SENDER RECIPIENT SUBJECT [COMMAND]\n");
	exit(2);
}
[$sender, $rcpt, $subject] = [$argv[1], $argv[2], $argv[3]];
$command = $argv[4] ?? '/usr/sbin/sendmail -bs';

$proc = proc_open($command, [0 => ['pipe', 'r'], 1 => ['pipe', 'w']], $pipes);
if (!is_resource($proc)) {
	fwrite(STDERR, "cannot start $command\n");
	exit(1);
}
[$in, $out] = [$pipes[0], $pipes[1]];
$failed = false;

// One reply, possibly multi-line ("250-..." ... "250 ..."): its code.
function reply($out): string {
	$code = '';
	while (($line = fgets($out, 4096)) !== false) {
		echo 'S: ', rtrim($line, "\r\n"), "\n";
		$code = substr($line, 0, 3);
		if (strlen($line) < 4 || $line[3] !== '-') {
			return $code;
		}
	}
	echo "S: <end of output>\n";
	return $code;
}

function cmd($in, $out, string $line, array $want): void {
	global $failed;
	echo "C: $line\n";
	fwrite($in, "$line\r\n");
	fflush($in);
	$code = reply($out);
	if (!in_array($code, $want, true)) {
		echo "# expected ", implode('/', $want), ", got '$code'\n";
		$failed = true;
	}
}

if (reply($out) !== '220') {
	echo "# expected a 220 greeting\n";
	$failed = true;
}
cmd($in, $out, 'EHLO [127.0.0.1]', ['250']);
cmd($in, $out, "MAIL FROM:<$sender>", ['250']);
cmd($in, $out, "RCPT TO:<$rcpt>", ['250', '251', '252']);
cmd($in, $out, 'DATA', ['354']);

$date = date(DATE_RFC2822);
$id = bin2hex(random_bytes(16)) . '@symfony.test';
$message = "From: $sender\r\nTo: $rcpt\r\nSubject: $subject\r\n" .
	"Date: $date\r\nMessage-ID: <$id>\r\nMIME-Version: 1.0\r\n" .
	"Content-Type: text/plain; charset=utf-8\r\n" .
	"Content-Transfer-Encoding: quoted-printable\r\n\r\n" .
	"Hello from a Symfony-style -bs session.\r\n.a line with a leading dot\r\n";
// Symfony's SmtpTransport doubles leading dots itself.
$stuffed = preg_replace('/^\./m', '..', $message);
echo "C: <message, ", strlen($message), " octets>\n";
fwrite($in, $stuffed);
cmd($in, $out, '.', ['250']);
cmd($in, $out, 'QUIT', ['221']);
fclose($in);
while (($line = fgets($out, 4096)) !== false) {
	echo 'S: (after QUIT) ', rtrim($line, "\r\n"), "\n";
}
fclose($out);
$status = proc_close($proc);
echo "# exit status $status\n";
exit($failed || $status !== 0 ? 1 : 0);
