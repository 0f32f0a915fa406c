"""Home sensors that call for help over MQTT (远程监护), and the shared-area cameras of a community."""
