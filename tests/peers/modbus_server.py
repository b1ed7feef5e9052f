#!/usr/bin/python3
"""A Modbus TCP server for edgeflow's tests, built on Debian's python3-pymodbus
(a Modbus implementation edgeflow did not write). Run with /usr/bin/python3.

  modbus_server.py PORT            Modbus TCP on 127.0.0.1:PORT
  modbus_server.py --rtu DEVICE    Modbus RTU on a serial device (e.g. one end of a pty pair)

Prints "ready ..." once listening. Commands on stdin, one per line, each
answered with "ok" (or "err ...") on stdout:
  set hr|ir ADDR V1 [V2 ...]   16-bit register values (unsigned)
  set co|di ADDR B1 [B2 ...]   bits (0/1)
  get hr|co ADDR N             prints "val V1 ..." (what a client wrote)
  mark                         remember now (monotonic)
  since hr|co ADDR             prints "since S": seconds from the last mark to the
                               last write a client made to ADDR ("since -1": none)
  quit
"""
import asyncio
import sys
import threading
import time

from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext,
                                ModbusSlaveContext)
from pymodbus.server import StartAsyncSerialServer, StartAsyncTcpServer
from pymodbus.transaction import ModbusRtuFramer

SIZE = 1000


CONTROL = {"thread": None, "mark": 0.0}


class SlowBlock(ModbusSequentialDataBlock):
    """Remembers when clients wrote each address."""

    def __init__(self, *args):
        super().__init__(*args)
        self.written = {}

    def setValues(self, address, values):
        if threading.get_ident() != CONTROL["thread"]:
            now = time.monotonic()
            for i in range(len(values) if isinstance(values, list) else 1):
                self.written[address + i] = now
        return super().setValues(address, values)


def main():
    rtu = sys.argv[1] == "--rtu"
    where = sys.argv[2] if rtu else sys.argv[1]
    blocks = {k: SlowBlock(0, [0] * SIZE) for k in ("hr", "ir", "co", "di")}
    slave = ModbusSlaveContext(hr=blocks["hr"], ir=blocks["ir"], co=blocks["co"], di=blocks["di"],
                               zero_mode=True)
    context = ModbusServerContext(slaves=slave, single=True)

    def control():
        CONTROL["thread"] = threading.get_ident()
        for line in sys.stdin:
            parts = line.split()
            try:
                if not parts:
                    continue
                if parts[0] == "quit":
                    break
                if parts[0] == "set":
                    blocks[parts[1]].setValues(int(parts[2]), [int(v) for v in parts[3:]])
                    print("ok", flush=True)
                elif parts[0] == "get":
                    vals = blocks[parts[1]].getValues(int(parts[2]), int(parts[3]))
                    print("val " + " ".join(str(int(v)) for v in vals), flush=True)
                elif parts[0] == "mark":
                    CONTROL["mark"] = time.monotonic()
                    print("ok", flush=True)
                elif parts[0] == "since":
                    t = blocks[parts[1]].written.get(int(parts[2]))
                    print("since %.6f" % (t - CONTROL["mark"] if t and t >= CONTROL["mark"] else -1), flush=True)
                else:
                    print("err unknown command", flush=True)
            except Exception as e:  # report and keep serving
                print("err %s" % e, flush=True)
        import os
        os._exit(0)

    threading.Thread(target=control, daemon=True).start()

    async def serve():
        loop = asyncio.get_running_loop()
        loop.call_later(0.3, lambda: print("ready %s" % where, flush=True))
        if rtu:
            await StartAsyncSerialServer(context=context, framer=ModbusRtuFramer, port=where, baudrate=19200)
        else:
            await StartAsyncTcpServer(context=context, address=("127.0.0.1", int(where)))

    asyncio.run(serve())


if __name__ == "__main__":
    main()
