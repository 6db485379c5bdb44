#!/usr/bin/perl
# A text-processing workload for the shim's real-program tests: generated
# text (a fixed linear congruential generator), word frequencies in a hash,
# a hash of arrays, sorting with a comparator, regular expressions with
# captures and substitutions, sprintf, closures, recursion and large string
# building and splitting.  Prints the same lines on every run.
use strict;
use warnings;

my $seed = 12345;
sub rnd { $seed = ($seed * 1103515245 + 12345) % 2147483648; return $seed; }

my @syllables = qw(ka lo mi ne ru sa ti vo ze pa qu in on er);
my @words;
for my $i (1 .. 30000) {
    my $w = join '', map { $syllables[rnd() % @syllables] } 1 .. (1 + rnd() % 4);
    push @words, $w;
}
my $text = join ' ', @words;
print "characters: ", length($text), "\n";

my %freq;
$freq{$_}++ for split /\s+/, $text;
my @top = (sort { $freq{$b} <=> $freq{$a} or $a cmp $b } keys %freq)[0 .. 9];
printf "%-10s %5d\n", $_, $freq{$_} for @top;

my %by_length;
push @{ $by_length{ length $_ } }, $_ for keys %freq;
for my $len (sort { $a <=> $b } keys %by_length) {
    my @sorted = sort @{ $by_length{$len} };
    printf "length %2d: %4d words, first %s, last %s\n", $len, scalar @sorted, $sorted[0], $sorted[-1];
}

(my $vowels = $text) =~ s/[aeiou]/*/g;
my $stars = () = $vowels =~ /\*/g;
print "vowels replaced: $stars\n";
my @pairs = $text =~ /\b(ka|lo)(\w+)\b/g;
print "captured: ", scalar(@pairs), " ", join(',', @pairs[0 .. 5]), "\n";

my @counters = map { my $n = $_; sub { $n += shift; $n } } 1 .. 100;
my $sum = 0;
for my $round (1 .. 200) { $sum += $_->($round) for @counters; }
print "closures: $sum\n";

sub perms { my @l = @_; return ([]) unless @l;
    return map { my $x = $l[$_]; my @r = @l; splice @r, $_, 1; map { [$x, @$_] } perms(@r) } 0 .. $#l }
my @p = perms(1 .. 6);
print "permutations: ", scalar(@p), " last ", join('', @{ $p[-1] }), "\n";

my %deep;
$deep{ $_ % 97 }{ $_ % 13 } .= chr(65 + $_ % 26) for 1 .. 50000;
my $checksum = 0;
for my $k (sort { $a <=> $b } keys %deep) {
    for my $j (sort { $a <=> $b } keys %{ $deep{$k} }) { $checksum = ($checksum * 31 + length $deep{$k}{$j}) % 1000003; }
}
print "nested: $checksum\n";
