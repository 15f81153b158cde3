"""data/kinds"""
