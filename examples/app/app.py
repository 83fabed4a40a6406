"""The example app fap deploys in `npm run demo`: prints its release and greeting."""
import os
import pathlib

here = pathlib.Path(__file__).resolve().parent
print(f"hello from release {here.name}: {os.environ.get('GREETING', 'hi')}")
