// libsystemd's journal and notify APIs. sd_journal_send is variadic, which Swift cannot
// call, so the daemon uses sd_journal_sendv (an iovec array of "FIELD=value" entries).
#pragma once
#include <systemd/sd-journal.h>
#include <systemd/sd-daemon.h>
#include <sys/uio.h>
