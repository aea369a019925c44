// libmosquitto (Debian's libmosquitto-dev): the MQTT client behind the daemon's [mqtt]
// publishing. Swift imports all of <mosquitto.h> that the daemon uses (plain functions,
// C function-pointer callbacks with a void* context, enums and integer macros), so no
// wrappers are needed; <poll.h> and <sys/eventfd.h> are for the publisher thread's wait.
#pragma once
#include <mosquitto.h>
#include <poll.h>
#include <sys/eventfd.h>
